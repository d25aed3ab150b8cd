{#-
    parse_utc_timestamp(expr): an ISO-8601 UTC string such as 2026-06-01T12:34:56Z to a
    timezone-less timestamp holding UTC wall-clock time (the type of RAW._loaded_at), or
    NULL when the text is not a timestamp. The trailing Z is stripped first, so the cast
    does not depend on how an engine treats a zone designator for a zone-less type.
-#}
{% macro parse_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'sony_de')(expr)) }}
{%- endmacro %}

{#- Snowflake, and any engine without its own version. -#}
{% macro default__parse_utc_timestamp(expr) -%}
    try_cast(replace({{ expr }}, 'Z', '') as timestamp_ntz)
{%- endmacro %}

{% macro duckdb__parse_utc_timestamp(expr) -%}
    try_cast(replace({{ expr }}, 'Z', '') as timestamp)
{%- endmacro %}
