{#-
    The data contract's e-mail rule, written once. An address is valid when its trimmed text
    fully matches ^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$ ; anything else (no @, no domain, NULL)
    is invalid, gets has_valid_email = false and a NULL email_hash.
-#}
{% macro valid_email_pattern() -%}
    {{ return('^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$') }}
{%- endmacro %}

{% macro is_valid_email(expr) -%}
    coalesce({{ regex_matches('trim(' ~ expr ~ ')', valid_email_pattern()) }}, false)
{%- endmacro %}

{% macro hashed_valid_email(expr) -%}
    case when {{ is_valid_email(expr) }} then {{ email_hash(expr) }} end
{%- endmacro %}
