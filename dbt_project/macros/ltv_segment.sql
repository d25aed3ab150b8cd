{#-
    ltv_segment(spend_expr): marketing's lifetime-value band for a fan's total spend in USD.
    high >= var('ltv_high_min_usd'), medium >= var('ltv_medium_min_usd'), otherwise low.
    The thresholds are project vars (dbt_project.yml) so marketing can tune them per run.
-#}
{% macro ltv_segment(spend_expr) -%}
    case
        when {{ spend_expr }} >= {{ var('ltv_high_min_usd') }} then 'high'
        when {{ spend_expr }} >= {{ var('ltv_medium_min_usd') }} then 'medium'
        else 'low'
    end
{%- endmacro %}
