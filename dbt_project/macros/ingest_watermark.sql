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
    append_new_columns then adds the column).
-#}
{% macro has_ingest_watermark() %}
    {{ return(this_has_columns(['_ingest_seq'])['_ingest_seq']) }}
{% endmacro %}


{#-
    {column: whether the model's table has it} for each of `names`, in one lookup. A unit
    test's `this` is its given rows (a string), which carry every column.
-#}
{% macro this_has_columns(names) %}
    {%- set columns = [] if this is string else adapter.get_columns_in_relation(this)
        | map(attribute='name') | map('lower') | list -%}
    {%- set found = {} -%}
    {%- for name in names -%}
        {%- do found.update({name: this is string or name | lower in columns}) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{#-
    The rows of `relation` past the model's watermark, bounded by literals: their lowest and
    highest `id_column` (as text literals) and their highest _ingest_seq, read before the
    model's query. A probe of earlier rows for these ids, bounded by the literals, skips every
    row group (micro-partition on Snowflake) whose ids lie outside them, so its cost follows
    the new rows and not the history wherever ids grow with time; bounds read in a subquery
    prune nothing. The model reads only the rows up to that _ingest_seq, so that rows loaded
    in between wait for the next run rather than escape the bounds. None in a unit test,
    whose inputs are fixtures the warehouse does not hold, and when parsing.
-#}
{% macro arrival_bounds(relation, id_column) %}
    {%- if this is string or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set bounds = run_query(
        "select min(" ~ id_column ~ "), max(" ~ id_column ~ "), max(_ingest_seq) from "
        ~ relation ~ " where _ingest_seq > " ~ ingest_watermark()
    ).rows[0] -%}
    {{ return({
        'lowest_id': text_literal(bounds[0]),
        'highest_id': text_literal(bounds[1]),
        'through_seq': bounds[2] if bounds[2] is not none else -1,
    }) }}
{% endmacro %}
