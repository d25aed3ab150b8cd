{#-
    fan_activity_aggregates(): a fan's lifetime figures over a set of their interactions
    (the select list of a query grouped by fan_id). dim_fans computes them over all of a fan's
    interactions on a full build, and over the new ones alone to merge into the fan's row on
    an incremental run.
-#}
{% macro fan_activity_aggregates() -%}
    min(event_ts) as first_interaction_at,
    max(event_ts) as last_interaction_at,
    count(*) as interaction_count,
    sum(case when is_purchase then 1 else 0 end) as purchase_count,
    cast(coalesce(sum(case when is_purchase then amount_usd end), 0) as decimal(18, 2))
        as total_spend_usd,
    max(_ingest_seq) as _ingest_seq
{%- endmacro %}
