{#-
    Stamped inputs of the dynamic tables: models that tell what changed in them by a stamp
    column, so that a dynamic table reading them needs no content hash of their rows.

    - `meta: {append_only_on: <column>}`: the model only ever gains rows, each stamped above
      every earlier row. The rows past the stamp of the last refresh are the whole change.
    - `meta: {versioned_on: <column>}`: every row the model writes, new or replacing the row
      of its key, is stamped above every row written before, and no key is ever removed. The
      keys of the rows past the stamp of the last refresh are every key that changed.

    Either holds until the model is built from scratch; it marks each such build in its
    table comment (post-hook mark_build_from_scratch), and a new mark means anything may have
    changed. Snowflake tracks its tables' changes itself: nothing is marked there.
-#}
{% macro mark_build_from_scratch() %}
    {{- return(adapter.dispatch('mark_build_from_scratch', 'sony_de')()) -}}
{% endmacro %}


{% macro default__mark_build_from_scratch() %}{% endmacro %}


{#- A table built from scratch (dbt creates a new one, with no comment) gets a new mark. -#}
{% macro duckdb__mark_build_from_scratch() %}
    {%- if execute -%}
        {%- set mark = run_query(build_mark_sql(this)).rows -%}
        {%- if mark and not mark[0][0] -%}
            comment on table {{ this }} is 'stamped build {{ invocation_id }}'
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#- The build mark of `relation`: one row, empty if it has none. -#}
{% macro build_mark_sql(relation) -%}
    select coalesce(max(comment), '') from duckdb_tables()
    where lower(database_name) = lower('{{ relation.database }}')
        and lower(schema_name) = lower('{{ relation.schema }}')
        and lower(table_name) = lower('{{ relation.identifier }}')
{%- endmacro %}


{#- How an input node is stamped: {kind: 'appended' or 'versioned', column}, none if it is not. -#}
{% macro dynamic_table_input_stamping(node) %}
    {%- set meta = (node.get('config') or {}).get('meta') or {} -%}
    {%- for kind, key in [('appended', 'append_only_on'), ('versioned', 'versioned_on')] -%}
        {%- if meta.get(key) -%}
            {{ return({'kind': kind, 'column': meta.get(key)}) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{#-
    The probe of a stamped input's fingerprint (one row; the input as dynamic_table_inputs
    gives it): its row count, and as content hash '<kind>:<highest stamp>:<build mark>'.
-#}
{% macro stamped_fingerprint_probe(input) -%}
    select '{{ input.name }}' as input_name, count(*) as row_count,
        '{{ input.kind }}:' || coalesce(max({{ input.stamp }}), -1) || ':'
        || ({{ build_mark_sql(input.relation) }}) as content_hash
    from {{ input.relation }}
{%- endmacro %}


{#-
    What a stamped fingerprint records: {'kind', 'through': its highest stamp, 'mark': its
    build mark}; none if the fingerprint is not one.
-#}
{% macro stamped_fingerprint(fingerprint) %}
    {%- set parts = ((fingerprint or {}).get('contentHash') or '') | string -%}
    {%- set parts = parts.split(':', 2) -%}
    {%- if parts | length != 3 or parts[0] not in ['appended', 'versioned'] -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'kind': parts[0], 'through': parts[1] | int, 'mark': parts[2]}) }}
{% endmacro %}


{#-
    What the stamped `inputs` (as dynamic_table_inputs gives them) changed since the last
    refresh: [{input, through}] for each that changed, its rows stamped above `through` being
    the change; none if one cannot vouch for that: another build, or fewer rows at or below
    the recorded stamp than it had (append-only) or fewer rows than it had (versioned).
-#}
{% macro stamped_changes(previous, fingerprints, inputs) %}
    {%- set changes = [] -%}
    {%- for input in inputs -%}
        {%- set before = previous.input_fingerprints.get(input.name) -%}
        {%- if before != fingerprints[input.name] -%}
            {%- set recorded = stamped_fingerprint(before) -%}
            {%- set now = stamped_fingerprint(fingerprints[input.name]) -%}
            {%- if recorded is none or now is none or recorded.kind != now.kind
                    or recorded.mark != now.mark -%}
                {{ return(none) }}
            {%- endif -%}
            {%- if now.kind == 'appended' -%}
                {%- set intact = before.rowCount == run_query(
                    "select count(*) from " ~ input.relation_name ~ " where " ~ input.stamp
                    ~ " <= " ~ recorded.through).rows[0][0] | int -%}
            {%- else -%}
                {%- set intact = fingerprints[input.name].rowCount >= before.rowCount -%}
            {%- endif -%}
            {%- if not intact -%}
                {{ return(none) }}
            {%- endif -%}
            {%- do changes.append({'input': input, 'through': recorded.through}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(changes) }}
{% endmacro %}
