{#-
    The dynamic-table config keys of dbt-snowflake, validated the way Snowflake validates
    CREATE DYNAMIC TABLE, so that a model the DuckDB twin accepts is one Snowflake accepts:

      target_lag               '<n> seconds|minutes|hours|days' (at least 60 s) or 'downstream'
      snowflake_warehouse      required (the warehouse Snowflake refreshes with)
      refresh_mode             AUTO (default) | FULL | INCREMENTAL
      initialize               ON_CREATE (default) | ON_SCHEDULE
      on_configuration_change  apply (default) | continue | fail

and two keys of the DuckDB twin's own, which dbt-snowflake ignores (Snowflake derives an
incremental refresh from change tracking):

      refresh_key              column name(s) the model's rows are partitioned by: a row
                               with key k depends only on the input rows with key k (in
                               the inputs that have those columns) and on the whole of the
                               other inputs, so an INCREMENTAL refresh may recompute just
                               the keys whose input rows changed (key_scoped_refresh.sql)
      refresh_on_append        {CTE name: macro name}: when only append-only inputs gained
                               rows, an INCREMENTAL refresh computes each named CTE of the
                               query with its macro, from the table and the appended rows
                               (refresh_on_append.sql)

    Returns them normalised, with target_lag_sec (none for 'downstream'), the figure
    Snowflake reports as TARGET_LAG_SEC.
-#}
{% macro dynamic_table_settings() %}
    {%- set where = model.original_file_path ~ ' (model ' ~ model.name ~ ')' -%}
    {%- set target_lag = config.get('target_lag') -%}
    {%- if not target_lag -%}
        {{ exceptions.raise_compiler_error(
            where ~ ": a dynamic_table needs target_lag, e.g. target_lag='1 hour' or 'downstream'") }}
    {%- endif -%}
    {%- set target_lag = target_lag | string | trim -%}
    {%- set unit_seconds = {'second': 1, 'minute': 60, 'hour': 3600, 'day': 86400} -%}
    {%- if target_lag | lower == 'downstream' -%}
        {%- set target_lag_sec = none -%}
    {%- else -%}
        {%- set match = modules.re.match(
            '^([0-9]+) *(second|minute|hour|day)s?$', target_lag | lower) -%}
        {%- if not match -%}
            {{ exceptions.raise_compiler_error(
                where ~ ": target_lag '" ~ target_lag ~ "' is not '<n> seconds|minutes|hours|days'"
                ~ " or 'downstream'") }}
        {%- endif -%}
        {%- set target_lag_sec = (match.group(1) | int) * unit_seconds[match.group(2)] -%}
        {%- if target_lag_sec < 60 -%}
            {{ exceptions.raise_compiler_error(
                where ~ ": target_lag '" ~ target_lag ~ "' is below Snowflake's minimum of 60 seconds") }}
        {%- endif -%}
    {%- endif -%}

    {%- set warehouse = config.get('snowflake_warehouse') -%}
    {%- if not warehouse -%}
        {{ exceptions.raise_compiler_error(
            where ~ ": a dynamic_table needs snowflake_warehouse (Snowflake refreshes it there)") }}
    {%- endif -%}

    {%- set refresh_mode = (config.get('refresh_mode') or 'AUTO') | upper -%}
    {%- set initialize = (config.get('initialize') or 'ON_CREATE') | upper -%}
    {%- set on_change = (config.get('on_configuration_change') or 'apply') | lower -%}
    {%- for key, value, allowed in [
            ('refresh_mode', refresh_mode, ['AUTO', 'FULL', 'INCREMENTAL']),
            ('initialize', initialize, ['ON_CREATE', 'ON_SCHEDULE']),
            ('on_configuration_change', on_change, ['apply', 'continue', 'fail'])] -%}
        {%- if value not in allowed -%}
            {{ exceptions.raise_compiler_error(
                where ~ ": " ~ key ~ " '" ~ value ~ "' is not one of " ~ allowed | join(', ')) }}
        {%- endif -%}
    {%- endfor -%}

    {%- set refresh_key = config.get('refresh_key') or [] -%}
    {%- if refresh_key is string -%}
        {%- set refresh_key = [refresh_key] -%}
    {%- endif -%}

    {%- set refresh_on_append = config.get('refresh_on_append') or {} -%}
    {%- if refresh_on_append is not mapping -%}
        {{ exceptions.raise_compiler_error(
            where ~ ": refresh_on_append must map CTE names to macro names, e.g. "
            ~ "{'franchise_fans': 'franchise_fans_after_append'}") }}
    {%- endif -%}
    {%- for cte, macro_name in refresh_on_append.items() -%}
        {%- do cte_heads(compiled_code, cte) -%}
        {%- if context.get(macro_name | string) is none -%}
            {{ exceptions.raise_compiler_error(
                where ~ ": refresh_on_append computes CTE '" ~ cte ~ "' with macro '"
                ~ macro_name ~ "', which the project does not define") }}
        {%- endif -%}
    {%- endfor -%}

    {{ return({
        'refresh_key': refresh_key | map('lower') | list,
        'refresh_on_append': refresh_on_append,
        'target_lag': target_lag,
        'target_lag_sec': target_lag_sec,
        'snowflake_warehouse': warehouse,
        'refresh_mode': refresh_mode,
        'initialize': initialize,
        'on_configuration_change': on_change,
    }) }}
{% endmacro %}
