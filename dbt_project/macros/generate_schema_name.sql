{#-
    Use a model's custom schema verbatim (upper case), without dbt's default
    "<target_schema>_<custom>" prefix, so that models land in STG, DIMS, FACTS, STUDIO_OPS
    and MARKETING on DuckDB and Snowflake alike. Nodes without a custom schema use the
    target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim | upper }}
    {%- else -%}
        {{ custom_schema_name | trim | upper }}
    {%- endif -%}
{%- endmacro %}
