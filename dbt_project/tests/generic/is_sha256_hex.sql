{#- Fails on values that are not 64 lowercase hex characters (a SHA-256 digest). NULL passes. -#}
{% test is_sha256_hex(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not {{ regex_matches(column_name, '^[0-9a-f]{64}$') }}
{% endtest %}
