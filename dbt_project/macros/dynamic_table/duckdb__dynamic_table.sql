{#-
    Snowflake's dynamic tables, reproduced on DuckDB under dbt-snowflake's materialization
    name and config keys (see dynamic_table_settings). On Snowflake, dbt-snowflake's own
    `dynamic_table` materialization runs and Snowflake refreshes the table itself; here each
    dbt run is one refresh, recorded in GOVERNANCE.DYNAMIC_TABLE_REFRESH_HISTORY:

      REFRESH_TRIGGER CREATION  the table is created (first run, --full-refresh, or a changed
                                definition under on_configuration_change='apply', which
                                Snowflake also answers with CREATE OR REPLACE)
      REFRESH_TRIGGER MANUAL    any other refresh a dbt run makes
      REFRESH_ACTION  NO_DATA   no input changed since the last refresh: the table is untouched
      REFRESH_ACTION  FULL      the table is rebuilt (creation, refresh_mode FULL, an
                                existing table with no refresh recorded, or AUTO below)
      REFRESH_ACTION  INCREMENTAL  refresh_mode AUTO or INCREMENTAL: only the rows that differ
                                are deleted and inserted (STATISTICS counts them)

    refresh_mode AUTO behaves as Snowflake's AUTO does since it resolves to ADAPTIVE
    (2026-11-20 release notes): incremental, but a full refresh when the change makes an
    incremental one cost more. For the twin that is a refresh it cannot scope to changed
    keys: evaluating the whole query and diffing it against the table costs the rebuild and
    more. refresh_mode INCREMENTAL never rebuilds on its own: it evaluates the whole query and
    applies the difference, leaving unchanged rows where they are.

    Where the twin differs from Snowflake: it evaluates the whole query on every refresh
    (Snowflake derives the change from its inputs' change tracking), except for a model
    declaring refresh_key, whose incremental refresh evaluates it for the changed keys only
    (key_scoped_refresh.sql), or refresh_on_append, whose incremental refresh after appended
    rows computes the CTEs it names from the table and those rows (refresh_on_append.sql);
    "changed" means a different row count or content hash of an input, not a new table
    version; a failed refresh rolls back and records no FAILED row; SCHEDULED and
    REINITIALIZE are never recorded (AUTO's full refreshes are recorded as FULL).
-#}
{% materialization dynamic_table, adapter='duckdb' %}
    {%- set started_at = utc_now() -%}
    {%- set settings = dynamic_table_settings() -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set qualified_name = (this.database ~ '.' ~ this.schema ~ '.' ~ this.identifier) | upper -%}
    {%- set definition_hash = local_md5(
        compiled_code ~ '|' ~ settings.refresh_mode ~ '|' ~ settings.initialize) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set history = ensure_dynamic_table_history() -%}
    {%- set previous = none -%}
    {%- if existing_relation is not none and existing_relation.is_table -%}
        {%- set previous = last_dynamic_table_refresh(history, qualified_name) -%}
    {%- endif -%}
    {%- set inputs = dynamic_table_inputs() -%}
    {%- set keyed_inputs = dynamic_table_keyed_inputs(inputs, settings.refresh_key) -%}
    {%- set fingerprints = dynamic_table_input_fingerprints(
        history, inputs, keyed_inputs, settings.refresh_key) -%}

    {#- What this run does: (trigger, action), action none = leave everything as it is. -#}
    {%- set creating = existing_relation is none or not existing_relation.is_table
        or should_full_refresh() -%}
    {%- if creating -%}
        {%- set trigger, action = 'CREATION', 'FULL' -%}
    {%- elif previous is none -%}
        {%- set trigger, action = 'MANUAL', 'FULL' -%}
    {%- elif previous.definition_hash != definition_hash -%}
        {%- set change = "the query, refresh_mode or initialize of " ~ qualified_name ~ " changed" -%}
        {%- if settings.on_configuration_change == 'fail' -%}
            {{ exceptions.raise_fail_fast_error(
                change ~ " and on_configuration_change is 'fail': run with --full-refresh") }}
        {%- elif settings.on_configuration_change == 'continue' -%}
            {{ exceptions.warn(change ~ "; on_configuration_change is 'continue': left as it is") }}
            {%- set trigger, action = none, none -%}
        {%- else -%}
            {%- set creating = true -%}
            {%- set trigger, action = 'CREATION', 'FULL' -%}
        {%- endif -%}
    {%- elif previous.input_fingerprints == fingerprints -%}
        {%- set trigger, action = 'MANUAL', 'NO_DATA' -%}
    {%- elif settings.refresh_mode == 'FULL' -%}
        {%- set trigger, action = 'MANUAL', 'FULL' -%}
    {%- else -%}
        {%- set trigger, action = 'MANUAL', 'INCREMENTAL' -%}
    {%- endif -%}

    {%- set statistics = {'numInsertedRows': 0, 'numDeletedRows': 0} -%}
    {%- set on_append = none -%}
    {%- set scoped_query = none -%}
    {%- set full_because = none -%}
    {%- if action == 'INCREMENTAL' -%}
        {%- if settings.refresh_on_append -%}
            {%- set on_append = dynamic_table_query_on_append(
                previous, fingerprints, inputs, settings.refresh_on_append) -%}
        {%- endif -%}
        {%- if on_append is none
                and prepare_key_scoped_refresh(previous, fingerprints, keyed_inputs, settings.refresh_key) -%}
            {%- set scoped_query = key_scoped_query(keyed_inputs, settings.refresh_key) -%}
        {%- endif -%}
        {%- if on_append is none and scoped_query is none and settings.refresh_mode == 'AUTO' -%}
            {%- set action = 'FULL' -%}
            {%- set full_because = 'AUTO: neither on append nor key-scoped, '
                ~ 'a rebuild costs less than a whole-query diff' -%}
        {%- endif -%}
    {%- endif -%}

    {%- if action is none or action == 'NO_DATA' -%}
        {% do store_raw_result(
            name='main', message=(action or 'SKIP') ~ ' ' ~ target_relation,
            code=action or 'SKIP', rows_affected='0') %}

    {%- elif action == 'FULL' -%}
        {%- set rows_before = 0 -%}
        {%- if existing_relation is not none and existing_relation.is_table -%}
            {%- set rows_before = run_query(
                'select count(*) from ' ~ existing_relation).rows[0][0] | int -%}
        {%- endif -%}
        {%- if existing_relation is not none -%}
            {% do adapter.drop_relation(existing_relation) %}
        {%- endif -%}
        {%- set populate = not (creating and settings.initialize == 'ON_SCHEDULE') -%}
        {%- set build_sql = compiled_code if populate
            else 'select * from (' ~ compiled_code ~ ') as initial_rows limit 0' -%}
        {% call statement('main') %}
            {{ create_table_as(False, target_relation, build_sql) }}
        {% endcall %}
        {%- set rows_after = run_query('select count(*) from ' ~ target_relation).rows[0][0] | int -%}
        {%- do statistics.update({'numInsertedRows': rows_after, 'numDeletedRows': rows_before}) -%}
        {%- if full_because -%}
            {% do store_raw_result(
                name='main', message='FULL ' ~ target_relation ~ ' (' ~ full_because ~ ')',
                code='FULL', rows_affected=rows_after | string) %}
        {%- endif -%}
        {%- if not populate -%}
            {#- ON_SCHEDULE: created empty, first filled by the next refresh. -#}
            {%- set action = none -%}
        {%- endif -%}

    {%- else -%}
        {%- if on_append is not none -%}
            {%- do statistics.update(apply_dynamic_table_difference(target_relation, on_append.sql)) -%}
            {%- set appended = [] -%}
            {%- for change in on_append.appended -%}
                {%- do appended.append(change.input.name ~ ' after ' ~ change.input.stamp
                    ~ ' ' ~ change.through) -%}
            {%- endfor -%}
            {%- set scope = 'on append: ' ~ appended | join(', ') -%}
        {%- elif scoped_query is none -%}
            {%- do statistics.update(apply_dynamic_table_difference(target_relation, compiled_code)) -%}
            {%- set scope = 'whole query' -%}
        {%- else -%}
            {%- do statistics.update(apply_dynamic_table_difference(
                target_relation, scoped_query,
                among_changed_keys('current_rows', settings.refresh_key))) -%}
            {%- set scope = 'key-scoped: '
                ~ load_result('dynamic_table_changed_keys').table.rows[0][0]
                ~ ' changed ' ~ settings.refresh_key | join(', ') -%}
        {%- endif -%}
        {% do store_raw_result(
            name='main', message='INCREMENTAL ' ~ target_relation ~ ' (' ~ scope ~ ')',
            code='INCREMENTAL',
            rows_affected=(statistics.numInsertedRows + statistics.numDeletedRows) | string) %}
    {%- endif -%}

    {%- if action is not none -%}
        {%- if action != 'NO_DATA' and keyed_inputs -%}
            {% do store_dynamic_table_key_fingerprints(
                keyed_inputs, scoped_query is not none, settings.refresh_key) %}
        {%- endif -%}
        {%- set completion_target = none -%}
        {%- if previous is not none and settings.target_lag_sec is not none -%}
            {%- set completion_target = previous.data_timestamp
                + modules.datetime.timedelta(seconds=settings.target_lag_sec) -%}
        {%- endif -%}
        {%- set changed_inputs = {} -%}
        {%- if action != 'NO_DATA' -%}
            {%- for name, fingerprint in fingerprints.items() -%}
                {%- set before = (previous.input_fingerprints if previous else {}).get(name) -%}
                {%- if before != fingerprint -%}
                    {%- do changed_inputs.update({name: {
                        'rowCount': fingerprint.rowCount,
                        'previousRowCount': before.rowCount if before else none}}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {% do record_dynamic_table_refresh(history, {
            'name': this.identifier | upper,
            'schema_name': this.schema | upper,
            'database_name': this.database | upper,
            'qualified_name': qualified_name,
            'started_at': started_at,
            'completion_target': completion_target,
            'statistics': statistics,
            'action': action,
            'reinit_reason': none,
            'trigger': trigger,
            'target_lag_sec': settings.target_lag_sec,
            'inputs_with_changed_data': changed_inputs,
            'definition_hash': definition_hash,
            'input_fingerprints': fingerprints,
        }) %}
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#-
    Bring `target` to the result of `query` by deleting the rows that are no longer in it and
    inserting the rows that are new; rows present in both are left alone. Multiset semantics
    (EXCEPT ALL), NULL-safe comparison on every column. With `scope` (a condition on the
    target's rows, alias current_rows) only the target's rows in scope are compared: `query`
    then gives the new rows of that scope alone.
-#}
{% macro apply_dynamic_table_difference(target, query, scope=none) %}
    {%- set new_rows = target.identifier ~ '__dt_new_rows' -%}
    {%- set gone_rows = target.identifier ~ '__dt_gone_rows' -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='name') | list -%}
    {%- set current_rows -%}
        (select * from {{ target }} as current_rows {% if scope %}where {{ scope }}{% endif %})
    {%- endset -%}
    {% call statement('dynamic_table_new_rows') %}
        create or replace temp table {{ new_rows }} as {{ query }}
    {% endcall %}
    {% call statement('dynamic_table_gone_rows') %}
        create or replace temp table {{ gone_rows }} as
        select * from {{ current_rows }} as in_scope except all select * from {{ new_rows }}
    {% endcall %}
    {#- DuckDB answers a DELETE or an INSERT with the number of rows it wrote -#}
    {% call statement('dynamic_table_delete', fetch_result=True) %}
        delete from {{ target }} as current_rows using {{ gone_rows }} as gone
        where
        {%- for column in columns %}
            current_rows.{{ adapter.quote(column) }} is not distinct from gone.{{ adapter.quote(column) }}
            {{- ' and' if not loop.last }}
        {%- endfor %}
    {% endcall %}
    {% call statement('dynamic_table_insert', fetch_result=True) %}
        insert into {{ target }}
        select * from {{ new_rows }} except all select * from {{ current_rows }} as in_scope
    {% endcall %}
    {% do run_query('drop table ' ~ new_rows ~ '; drop table ' ~ gone_rows) %}
    {{ return({
        'numInsertedRows': load_result('dynamic_table_insert').table.rows[0][0] | int,
        'numDeletedRows': load_result('dynamic_table_delete').table.rows[0][0] | int,
    }) }}
{% endmacro %}
