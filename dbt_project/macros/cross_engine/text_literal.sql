{#-
    text_literal(value): a Jinja string as a SQL string literal (NULL for none). The engines
    read backslashes in string literals differently: Snowflake treats \ as an escape
    character inside '...', DuckDB does not; each gets the literal it reads back as `value`.
-#}
{% macro text_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        {{ return(adapter.dispatch('text_literal', 'sony_de')(value)) }}
    {%- endif -%}
{%- endmacro %}

{#- Snowflake, and any engine without its own version. -#}
{% macro default__text_literal(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro duckdb__text_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
