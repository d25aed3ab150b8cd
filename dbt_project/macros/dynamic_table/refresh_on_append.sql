{#-
    INCREMENTAL refresh on append, for a model that declares refresh_on_append (see
    dynamic_table_settings): when every input that changed since the last refresh is an
    append-only one (stamped_inputs.sql) that only gained rows, the twin evaluates the
    model's query with each CTE named there computed by its macro instead, and replaces the
    rows that differ. It is for a part of the query that reads the whole history on every
    evaluation (a distinct count) although its new value follows from the table as it is
    ({{ this }}) and the appended rows. The macro must give the rows the CTE would give over
    all the rows; the tests compare such a refresh with a rebuild, row by row.

    The macro is called with {input name: {relation, stamp, through}} for each input that
    gained rows: the appended rows are that relation's rows stamped above `through`.
-#}

{#-
    The query of an INCREMENTAL refresh on append, with what was appended:
    {sql, appended: [{input, through}]}; none when one of the model's `inputs`
    (dynamic_table_inputs) changed otherwise.
-#}
{% macro dynamic_table_query_on_append(previous, fingerprints, inputs, cte_macros) %}
    {%- for input in inputs | rejectattr('kind', 'equalto', 'appended') -%}
        {%- if previous.input_fingerprints.get(input.name) != fingerprints[input.name] -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set changes = stamped_changes(
        previous, fingerprints, inputs | selectattr('kind', 'equalto', 'appended') | list) -%}
    {%- if changes is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set appended = {} -%}
    {%- for change in changes -%}
        {%- do appended.update({change.input.name: {
            'relation': change.input.relation_name,
            'stamp': change.input.stamp,
            'through': change.through}}) -%}
    {%- endfor -%}
    {%- set query = namespace(sql=compiled_code) -%}
    {%- for cte, macro_name in cte_macros.items() -%}
        {%- set query.sql = replace_cte_body(query.sql, cte, context[macro_name](appended)) -%}
    {%- endfor -%}
    {{ return({'sql': query.sql, 'appended': changes}) }}
{% endmacro %}


{#-
    Where CTE `name` of `sql` opens: the matches of `name as (`, which must be exactly one;
    a compiler error naming the model otherwise.
-#}
{% macro cte_heads(sql, name) %}
    {%- set re = modules.re -%}
    {%- set heads = re.finditer(
        '(?i)(?<![A-Za-z0-9_."])' ~ re.escape(name) ~ '\\s+as\\s*\\(', sql) | list -%}
    {%- if heads | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            model.original_file_path ~ " (model " ~ model.name ~ "): refresh_on_append names CTE '"
            ~ name ~ "', which the model's query does not define exactly once as '" ~ name
            ~ " as (...)'; name a CTE of the query, or remove it from refresh_on_append") }}
    {%- endif -%}
    {{ return(heads) }}
{% endmacro %}


{#-
    `sql` with the body of its CTE `name` (what stands between the parentheses of
    `name as (...)`) replaced by `body`. Parentheses inside string literals, quoted names and
    comments are not counted.
-#}
{% macro replace_cte_body(sql, name, body) %}
    {%- set re = modules.re -%}
    {%- set start = cte_heads(sql, name)[0].end() -%}
    {%- set scan = namespace(depth=1, close=none) -%}
    {%- set tokens = "'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--.*|(?s:/[*].*?[*]/)|[()]" -%}
    {%- for token in re.finditer(tokens, sql[start:]) -%}
        {%- if scan.close is none and token.group(0) in ['(', ')'] -%}
            {%- set scan.depth = scan.depth + (1 if token.group(0) == '(' else -1) -%}
            {%- if scan.depth == 0 -%}
                {%- set scan.close = start + token.start() -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if scan.close is none -%}
        {{ exceptions.raise_compiler_error(
            model.original_file_path ~ " (model " ~ model.name ~ "): CTE '" ~ name
            ~ "' of refresh_on_append has no closing parenthesis") }}
    {%- endif -%}
    {{ return(sql[:start] ~ '\n' ~ body ~ '\n' ~ sql[scan.close:]) }}
{% endmacro %}
