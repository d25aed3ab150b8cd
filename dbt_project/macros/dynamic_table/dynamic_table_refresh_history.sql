{#-
    GOVERNANCE.DYNAMIC_TABLE_REFRESH_HISTORY: one row per refresh of a dynamic table on the
    DuckDB twin, with the columns of Snowflake's INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY,
    so the same query reads refreshes on both engines. Two columns are the twin's own
    bookkeeping, which Snowflake keeps internally: DEFINITION_HASH (the query and the
    settings that force a rebuild) and INPUT_FINGERPRINTS (row count and content hash of
    every input at the refresh), from which the next refresh decides NO_DATA.
-#}
{% macro dynamic_table_history_relation() %}
    {{ return(api.Relation.create(
        database=this.database, schema='GOVERNANCE',
        identifier='DYNAMIC_TABLE_REFRESH_HISTORY', type='table')) }}
{% endmacro %}


{#-
    The history table, created with its schema if missing. A table dbt's relation cache
    already knows is taken as it is: one lookup (a listing of GOVERNANCE, once per
    invocation) in place of four statements per refresh.
-#}
{% macro ensure_dynamic_table_history() %}
    {%- set history = dynamic_table_history_relation() -%}
    {%- if adapter.get_relation(history.database, history.schema, history.identifier) is not none -%}
        {{ return(history) }}
    {%- endif -%}
    {% do adapter.create_schema(history) %}
    {% call statement('dynamic_table_history_ddl') %}
        create table if not exists {{ history }} (
            NAME varchar,
            SCHEMA_NAME varchar,
            DATABASE_NAME varchar,
            STATE varchar,
            STATE_CODE varchar,
            STATE_MESSAGE varchar,
            QUERY_ID varchar,
            DATA_TIMESTAMP timestamp,
            REFRESH_START_TIME timestamp,
            REFRESH_END_TIME timestamp,
            COMPLETION_TARGET timestamp,
            QUALIFIED_NAME varchar,
            LAST_COMPLETED_DEPENDENCY json,
            STATISTICS json,
            REFRESH_ACTION varchar,
            REINIT_REASON varchar,
            REFRESH_TRIGGER varchar,
            TARGET_LAG_SEC bigint,
            GRAPH_HISTORY_VALID_FROM timestamp,
            INPUTS_WITH_CHANGED_DATA json,
            DEFINITION_HASH varchar,
            INPUT_FINGERPRINTS json
        )
    {% endcall %}
    {{ return(history) }}
{% endmacro %}


{#- The latest successful refresh of `qualified_name`, or none. -#}
{% macro last_dynamic_table_refresh(history, qualified_name) %}
    {%- set found = run_query(
        "select DEFINITION_HASH, cast(INPUT_FINGERPRINTS as varchar), DATA_TIMESTAMP from "
        ~ history ~ " where QUALIFIED_NAME = '" ~ qualified_name ~ "' and STATE = 'SUCCEEDED'"
        ~ " order by REFRESH_END_TIME desc limit 1") -%}
    {%- if found.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set row = found.rows[0] -%}
    {{ return({
        'definition_hash': row[0],
        'input_fingerprints': fromjson(row[1]),
        'data_timestamp': row[2],
    }) }}
{% endmacro %}


{#-
    Row count and a content fingerprint of every relation the model reads. Equal
    fingerprints mean equal contents, whatever rebuilt them in between:

    - a stamped input (stamped_inputs.sql): its row count, its highest stamp and its build
      mark, which change whenever its contents do. Only the stamp column is read.
    - a keyed input (key_scoped_refresh.sql): the sums of its keys' counts and content hashes,
      computed first.
    - any other input: its row count and an order-independent hash of all its rows.

    An input another dynamic table already fingerprinted in this dbt invocation (its refresh
    row, QUERY_ID = invocation_id, is in the history) is not read again: within one
    invocation an input is complete before any model reading it starts and is not written
    again, and the DuckDB file admits no writer from another process meanwhile.
-#}
{% macro dynamic_table_input_fingerprints(history, inputs, keyed_inputs=[], key_columns=[]) %}
    {%- set hashed_keyed = hashed_keyed_inputs(keyed_inputs) -%}
    {%- set keyed_names = hashed_keyed | map(attribute='name') | list -%}
    {%- set fingerprints = {} -%}
    {%- for row in run_query("select cast(INPUT_FINGERPRINTS as varchar) from " ~ history
            ~ " where QUERY_ID = '" ~ invocation_id ~ "' and STATE = 'SUCCEEDED'").rows -%}
        {%- for name, fingerprint in fromjson(row[0]).items() -%}
            {%- if name not in keyed_names -%}
                {%- do fingerprints.update({name: fingerprint}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if hashed_keyed -%}
        {% do compute_dynamic_table_key_fingerprints(keyed_inputs, key_columns) %}
    {%- endif -%}
    {%- set probes = [] -%}
    {%- for input in hashed_keyed -%}
        {%- do probes.append(keyed_input_fingerprint_probe(input)) -%}
    {%- endfor -%}
    {%- for input in inputs -%}
        {%- if input.name in keyed_names or input.name in fingerprints -%}
        {%- elif input.stamp -%}
            {%- do probes.append(stamped_fingerprint_probe(input)) -%}
        {%- else -%}
            {%- do probes.append(
                "select '" ~ input.name ~ "' as input_name, count(*) as row_count, "
                ~ "cast(coalesce(sum(hash(input_rows)), 0) as varchar) as content_hash "
                ~ "from " ~ input.relation ~ " as input_rows") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if probes -%}
        {%- for row in run_query(probes | join(' union all ')).rows -%}
            {%- do fingerprints.update({row[0]: {'rowCount': row[1] | int, 'contentHash': row[2]}}) -%}
        {%- endfor -%}
    {%- endif -%}
    {#- only this model's inputs: the invocation's history also holds other models' -#}
    {%- set own = {} -%}
    {%- for input in inputs -%}
        {%- do own.update({input.name: fingerprints[input.name]}) -%}
    {%- endfor -%}
    {{ return(own) }}
{% endmacro %}


{#-
    Every input of the model: [{name, relation, relation_name, kind, stamp}]; kind 'appended'
    or 'versioned' and stamp its stamp column for a stamped input (stamped_inputs.sql), none
    for any other.
-#}
{% macro dynamic_table_inputs() %}
    {%- set inputs = [] -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
        {%- set relation = dynamic_table_input_relation(node) -%}
        {%- set stamping = dynamic_table_input_stamping(node) or {} -%}
        {%- do inputs.append({
            'name': dynamic_table_input_name(relation),
            'relation': relation,
            'relation_name': node.relation_name,
            'kind': stamping.get('kind'),
            'stamp': stamping.get('column')}) -%}
    {%- endfor -%}
    {{ return(inputs) }}
{% endmacro %}


{% macro dynamic_table_input_relation(node) %}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema,
        identifier=node.alias if node.alias is defined and node.alias else node.identifier)) }}
{% endmacro %}


{#- How an input is named in INPUT_FINGERPRINTS and INPUTS_WITH_CHANGED_DATA. -#}
{% macro dynamic_table_input_name(relation) %}
    {{ return((relation.database ~ '.' ~ relation.schema ~ '.' ~ relation.identifier) | upper) }}
{% endmacro %}


{#- The wall-clock time in UTC, timezone-less like every timestamp the platform stores. -#}
{% macro utc_now() %}
    {{ return(modules.datetime.datetime.now(modules.pytz.utc).replace(tzinfo=none)) }}
{% endmacro %}


{#- A value as a SQL string literal (or null). -#}
{% macro sql_text(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ value | string | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}


{#- Append one refresh to the history, inside the refresh's own transaction. -#}
{% macro record_dynamic_table_refresh(history, refresh) %}
    {% call statement('dynamic_table_history_row') %}
        insert into {{ history }} (
            NAME, SCHEMA_NAME, DATABASE_NAME, STATE, STATE_CODE, STATE_MESSAGE, QUERY_ID,
            DATA_TIMESTAMP, REFRESH_START_TIME, REFRESH_END_TIME, COMPLETION_TARGET,
            QUALIFIED_NAME, LAST_COMPLETED_DEPENDENCY, STATISTICS, REFRESH_ACTION,
            REINIT_REASON, REFRESH_TRIGGER, TARGET_LAG_SEC, GRAPH_HISTORY_VALID_FROM,
            INPUTS_WITH_CHANGED_DATA, DEFINITION_HASH, INPUT_FINGERPRINTS
        )
        select
            {{ sql_text(refresh.name) }},
            {{ sql_text(refresh.schema_name) }},
            {{ sql_text(refresh.database_name) }},
            'SUCCEEDED',
            null,
            null,
            {{ sql_text(invocation_id) }},
            cast({{ sql_text(refresh.started_at) }} as timestamp),
            cast({{ sql_text(refresh.started_at) }} as timestamp),
            cast({{ sql_text(utc_now()) }} as timestamp),
            {%- if refresh.completion_target is none %} null, {% else %}
            cast({{ sql_text(refresh.completion_target) }} as timestamp),
            {%- endif %}
            {{ sql_text(refresh.qualified_name) }},
            null,
            {{ sql_text(tojson(refresh.statistics)) }},
            {{ sql_text(refresh.action) }},
            {{ sql_text(refresh.reinit_reason) }},
            {{ sql_text(refresh.trigger) }},
            {{ 'null' if refresh.target_lag_sec is none else refresh.target_lag_sec }},
            null,
            {{ sql_text(tojson(refresh.inputs_with_changed_data)) }},
            {{ sql_text(refresh.definition_hash) }},
            {{ sql_text(tojson(refresh.input_fingerprints)) }}
    {% endcall %}
{% endmacro %}
