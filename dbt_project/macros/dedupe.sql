{#-
    qualify_first(partition_by, order_by): keep the first row of each partition in the given
    order. Used for the contract's dedup rules (first or latest _ingest_seq per business key)
    and for "latest event per fan". QUALIFY exists on both DuckDB and Snowflake.
-#}
{% macro qualify_first(partition_by, order_by) -%}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}
