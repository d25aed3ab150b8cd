{#-
    email_hash(expr): SHA-256 of the normalised e-mail, as 64 lowercase hex characters.
    Normalisation is lower(trim(expr)); SQL trim removes spaces only (not all whitespace,
    unlike Python's str.strip()). Both engines return the same string for the same input,
    and it matches the masking policy used for the SECURE vault on Snowflake.
-#}
{% macro email_hash(expr) -%}
    {{ return(adapter.dispatch('email_hash', 'sony_de')(expr)) }}
{%- endmacro %}

{#- Snowflake, and any engine without its own version. -#}
{% macro default__email_hash(expr) -%}
    sha2(lower(trim({{ expr }})), 256)
{%- endmacro %}

{% macro duckdb__email_hash(expr) -%}
    sha256(lower(trim({{ expr }})))
{%- endmacro %}
