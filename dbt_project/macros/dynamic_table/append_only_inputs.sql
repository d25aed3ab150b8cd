{#-
    Append-only inputs of the dynamic tables. A model declaring `meta: {append_only_on:
    <stamp column>}` promises that it only ever gains rows, each stamped above every earlier
    row, unless it is built from scratch; and it marks each build from scratch in its table
    comment (post-hook mark_append_only_build). A dynamic table reading it then needs no
    content hash: rows past the stamp of its last refresh, in the same build, are the whole
    change (key_scoped_refresh.sql); a new build mark means anything may have changed.
    Snowflake tracks its tables' changes itself: nothing is marked there.
-#}
{% macro mark_append_only_build() %}
    {{- return(adapter.dispatch('mark_append_only_build', 'sony_de')()) -}}
{% endmacro %}


{% macro default__mark_append_only_build() %}{% endmacro %}


{#- A table built from scratch (dbt creates a new one, with no comment) gets a new mark. -#}
{% macro duckdb__mark_append_only_build() %}
    {%- if execute -%}
        {%- set mark = run_query(append_only_build_mark_sql(this)).rows -%}
        {%- if mark and not mark[0][0] -%}
            comment on table {{ this }} is 'append-only build {{ invocation_id }}'
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#- The build mark of `relation`: one row, empty if it has none. -#}
{% macro append_only_build_mark_sql(relation) -%}
    select coalesce(max(comment), '') from duckdb_tables()
    where lower(database_name) = lower('{{ relation.database }}')
        and lower(schema_name) = lower('{{ relation.schema }}')
        and lower(table_name) = lower('{{ relation.identifier }}')
{%- endmacro %}


{#- The stamp column of an append-only input node, none for any other. -#}
{% macro dynamic_table_input_stamp(node) %}
    {%- set meta = (node.get('config') or {}).get('meta') or {} -%}
    {{ return(meta.get('append_only_on')) }}
{% endmacro %}


{#-
    The probe of an append-only input's fingerprint (one row): its row count, and as content
    hash 'appended:<highest stamp>:<build mark>'.
-#}
{% macro append_only_fingerprint_probe(name, relation, stamp) -%}
    select '{{ name }}' as input_name, count(*) as row_count,
        'appended:' || coalesce(max({{ stamp }}), -1) || ':'
        || ({{ append_only_build_mark_sql(relation) }}) as content_hash
    from {{ relation }}
{%- endmacro %}


{#-
    What an append-only fingerprint records: {'through': its highest stamp, 'mark': its build
    mark}; none if the fingerprint is not one.
-#}
{% macro appended_fingerprint(fingerprint) %}
    {%- set parts = ((fingerprint or {}).get('contentHash') or '') | string -%}
    {%- set parts = parts.split(':', 2) -%}
    {%- if parts | length != 3 or parts[0] != 'appended' -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'through': parts[1] | int, 'mark': parts[2]}) }}
{% endmacro %}
