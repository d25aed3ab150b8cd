{#-
    Key-scoped INCREMENTAL refresh of the DuckDB twin, for a model that declares refresh_key
    (see dynamic_table_settings). Each refresh keeps, next to the history, the row count and
    content hash of every key of every input that has the key columns ("keyed" inputs), in
    GOVERNANCE.DT_KEY_FINGERPRINTS__<SCHEMA>__<NAME>; an input's fingerprint is the sum of
    its keys'. The next refresh compares them and, when only keyed inputs changed, evaluates
    the model's query over those inputs restricted to the changed keys and replaces just
    those keys' rows. A stamped keyed input (stamped_inputs.sql) is not hashed: its changed
    keys are those of its rows stamped after the last refresh; with no other keyed input
    there is no stored state at all. Anything it cannot vouch for (an input without the key
    changed, no stored state matching the last refresh, a stamped input rebuilt or short of
    the rows it had, a keyed input the query does not name) falls back to evaluating the
    whole query.
-#}

{#- Those of the model's `inputs` (dynamic_table_inputs) that have every refresh_key column. -#}
{% macro dynamic_table_keyed_inputs(inputs, key_columns) %}
    {%- set keyed = [] -%}
    {%- if key_columns -%}
        {%- for input in inputs -%}
            {%- set columns = adapter.get_columns_in_relation(input.relation)
                | map(attribute='name') | map('lower') | list -%}
            {%- if key_columns | reject('in', columns) | list | length == 0 -%}
                {%- do keyed.append(input) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(keyed) }}
{% endmacro %}


{% macro dynamic_table_key_state_relation() %}
    {{ return(api.Relation.create(
        database=this.database, schema='GOVERNANCE',
        identifier=('DT_KEY_FINGERPRINTS__' ~ this.schema ~ '__' ~ this.identifier) | upper,
        type='table')) }}
{% endmacro %}


{% macro dynamic_table_new_key_fingerprints() %}
    {{ return(this.identifier ~ '__dt_key_fingerprints') }}
{% endmacro %}


{#- The keyed inputs that are hashed per key: those that are not stamped. -#}
{% macro hashed_keyed_inputs(keyed_inputs) %}
    {{ return(keyed_inputs | selectattr('stamp', 'none') | list) }}
{% endmacro %}


{#- Per-key row count and content hash of every hashed keyed input, into a temp table. -#}
{% macro compute_dynamic_table_key_fingerprints(keyed_inputs, key_columns) %}
    {%- set keys = key_columns | join(', ') -%}
    {% call statement('dynamic_table_key_fingerprints') %}
        create or replace temp table {{ dynamic_table_new_key_fingerprints() }} as
        {% for input in hashed_keyed_inputs(keyed_inputs) %}
        select '{{ input.name }}' as input_name, {{ keys }},
            count(*) as row_count, sum(hash(input_rows)) as content_hash
        from {{ input.relation_name }} as input_rows
        group by {{ keys }}
        {{ 'union all' if not loop.last }}
        {% endfor %}
    {% endcall %}
{% endmacro %}


{#- The probe giving a keyed input's fingerprint from its keys' (one row, even if empty). -#}
{% macro keyed_input_fingerprint_probe(input) %}
    {{- return(
        "select '" ~ input.name ~ "' as input_name, coalesce(sum(row_count), 0) as row_count, "
        ~ "cast(coalesce(sum(content_hash), 0) as varchar) as content_hash "
        ~ "from " ~ dynamic_table_new_key_fingerprints()
        ~ " where input_name = '" ~ input.name ~ "'") -}}
{% endmacro %}


{#-
    Whether this INCREMENTAL refresh can be key-scoped; if so, the changed keys are left in
    temp table <name>__dt_changed_keys. It can when every input that changed is keyed, the
    stored key fingerprints add up to the fingerprints the last refresh recorded, and every
    stamped input that changed can vouch for its change (stamped_changes).
-#}
{% macro prepare_key_scoped_refresh(previous, fingerprints, keyed_inputs, key_columns) %}
    {%- set keyed_names = keyed_inputs | map(attribute='name') | list -%}
    {%- if not keyed_inputs -%}
        {{ return(false) }}
    {%- endif -%}
    {%- for name, fingerprint in fingerprints.items() -%}
        {%- if name not in keyed_names and previous.input_fingerprints.get(name) != fingerprint -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set appended = stamped_changes(
        previous, fingerprints, keyed_inputs | rejectattr('stamp', 'none') | list) -%}
    {%- if appended is none -%}
        {{ return(false) }}
    {%- endif -%}
    {#- the other keyed inputs are hashed per key: their stored state must match -#}
    {%- set hashed_names = hashed_keyed_inputs(keyed_inputs) | map(attribute='name') | list -%}
    {%- set state = dynamic_table_key_state_relation() -%}
    {%- if hashed_names -%}
        {%- if adapter.get_relation(state.database, state.schema, state.identifier) is none -%}
            {{ return(false) }}
        {%- endif -%}
        {%- set stored = run_query(
            "select input_name, sum(row_count), cast(coalesce(sum(content_hash), 0) as varchar) "
            ~ "from " ~ state ~ " group by input_name") -%}
        {%- set stored_fingerprints = {} -%}
        {%- for row in stored.rows -%}
            {%- do stored_fingerprints.update(
                {row[0]: {'rowCount': row[1] | int, 'contentHash': row[2]}}) -%}
        {%- endfor -%}
        {%- for name in hashed_names -%}
            {%- set recorded = previous.input_fingerprints.get(name) -%}
            {%- set empty = {'rowCount': 0, 'contentHash': '0'} -%}
            {%- if recorded is none or stored_fingerprints.get(name, empty) != recorded -%}
                {{ return(false) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set keys = key_columns | join(', ') -%}
    {%- set changed = [] -%}
    {%- if hashed_names -%}
        {%- set hashed_changes -%}
        select distinct
        {%- for column in key_columns %}
            case when now.input_name is null then before.{{ column }} else now.{{ column }} end
                as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
        from {{ dynamic_table_new_key_fingerprints() }} as now
        full outer join (
            select * from {{ state }}
            where input_name in ('{{ hashed_names | join("', '") }}')
        ) as before
            on now.input_name = before.input_name
            {%- for column in key_columns %}
            and now.{{ column }} is not distinct from before.{{ column }}
            {%- endfor %}
        where now.row_count is distinct from before.row_count
            or now.content_hash is distinct from before.content_hash
        {%- endset -%}
        {%- do changed.append(hashed_changes) -%}
    {%- endif -%}
    {%- for change in appended -%}
        {%- do changed.append('select distinct ' ~ keys ~ ' from ' ~ change.input.relation_name
            ~ ' where ' ~ change.input.stamp ~ ' > ' ~ change.through) -%}
    {%- endfor -%}
    {#- fetched: DuckDB answers with the number of changed keys -#}
    {% call statement('dynamic_table_changed_keys', fetch_result=True) %}
        create or replace temp table {{ this.identifier }}__dt_changed_keys as
        {{ changed | join('\nunion\n') }}
    {% endcall %}
    {{ return(true) }}
{% endmacro %}


{#- Rows of `relation` whose key is among the changed keys. -#}
{% macro among_changed_keys(alias, key_columns) -%}
    exists (
        select 1 from {{ this.identifier }}__dt_changed_keys as changed_keys
        where
        {%- for column in key_columns %}
            changed_keys.{{ column }} is not distinct from {{ alias }}.{{ column }}
            {{- ' and' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}


{#-
    The model's query over its keyed inputs restricted to the changed keys (temp views
    replace the inputs' names in the compiled query); none if an input's name is not found.
-#}
{% macro key_scoped_query(keyed_inputs, key_columns) %}
    {%- set scoped = namespace(sql=compiled_code) -%}
    {%- for input in keyed_inputs -%}
        {%- set view = this.identifier ~ '__dt_scoped_input_' ~ loop.index -%}
        {% call statement('dynamic_table_scoped_input') %}
            create or replace temp view {{ view }} as
            select * from {{ input.relation_name }} as input_rows
            where {{ among_changed_keys('input_rows', key_columns) }}
        {% endcall %}
        {%- set pattern = '(?<![A-Za-z0-9_."])' ~ modules.re.escape(input.relation_name)
            ~ '(?![A-Za-z0-9_"])' -%}
        {%- set replaced = modules.re.subn(pattern, view, scoped.sql, flags=modules.re.IGNORECASE) -%}
        {%- if replaced[1] == 0 -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set scoped.sql = replaced[0] -%}
    {%- endfor -%}
    {{ return(scoped.sql) }}
{% endmacro %}


{#-
    Keep the key fingerprints of this refresh for the next one: after a key-scoped refresh
    only the changed keys' rows differ, so only those are replaced. With no hashed keyed
    input there is nothing to keep (a state left from before is dropped).
-#}
{% macro store_dynamic_table_key_fingerprints(keyed_inputs, scoped, key_columns) %}
    {%- set state = dynamic_table_key_state_relation() -%}
    {%- if not hashed_keyed_inputs(keyed_inputs) -%}
        {%- if adapter.get_relation(state.database, state.schema, state.identifier) is not none -%}
            {% do adapter.drop_relation(state) %}
        {%- endif -%}
    {%- elif scoped -%}
        {% call statement('dynamic_table_key_state') %}
            delete from {{ state }} as current_rows
            where {{ among_changed_keys('current_rows', key_columns) }}
        {% endcall %}
        {% call statement('dynamic_table_key_state_insert') %}
            insert into {{ state }}
            select * from {{ dynamic_table_new_key_fingerprints() }} as current_rows
            where {{ among_changed_keys('current_rows', key_columns) }}
        {% endcall %}
    {%- else -%}
        {% call statement('dynamic_table_key_state') %}
            create or replace table {{ state }} as
            select * from {{ dynamic_table_new_key_fingerprints() }}
        {% endcall %}
    {%- endif -%}
{% endmacro %}
