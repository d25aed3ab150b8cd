{#-
    regex_matches(expr, pattern): TRUE when the WHOLE of expr matches pattern (full match),
    NULL when expr is NULL.

    Full match is the only semantics Snowflake's REGEXP_LIKE has (it is implicitly anchored),
    so DuckDB uses regexp_full_match rather than the partial regexp_matches. Anchors ^ and $
    in a pattern are therefore harmless and may be kept for readability.

    `pattern` is the bare regular expression as a Jinja string, not a SQL literal: the macro
    quotes it for the engine (text_literal), whose string literals read backslashes
    differently. Write the pattern once (e.g. '^[^@\\s]+@...' in Jinja = ^[^@\s]+@... ) and
    both engines receive the same regular expression.
-#}
{% macro regex_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'sony_de')(expr, pattern)) }}
{%- endmacro %}

{#- Snowflake, and any engine without its own version. -#}
{% macro default__regex_matches(expr, pattern) -%}
    regexp_like({{ expr }}, {{ text_literal(pattern) }})
{%- endmacro %}

{% macro duckdb__regex_matches(expr, pattern) -%}
    regexp_full_match({{ expr }}, {{ text_literal(pattern) }})
{%- endmacro %}
