{#-
    The Bronze ingest sequence as an incremental model's watermark: the model keeps the
    `_ingest_seq` of the rows it counted, and a run reads the rows past the highest of them.
-#}

{#- The highest _ingest_seq the model's table holds (-1 when empty), as a scalar subquery. -#}
{% macro ingest_watermark() -%}
    (select coalesce(max(_ingest_seq), -1) from {{ this }})
{%- endmacro %}


{#-
    Whether the model's table has its _ingest_seq column: a table built before the watermark
    existed lacks it, and its first incremental run reads everything once (on_schema_change
    append_new_columns then adds the column). A unit test's `this` is its given rows (a
    string), which carry the watermark.
-#}
{% macro has_ingest_watermark() %}
    {%- if this is string -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this)
        | map(attribute='name') | map('lower') | list -%}
    {{ return('_ingest_seq' in columns) }}
{% endmacro %}
