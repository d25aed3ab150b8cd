{#-
    Helpers of the incremental fact_daily_performance model.
-#}

{#- The row's (title, day) is among the keys the incremental run recomputes. -#}
{% macro among_changed_title_days(title_id, day) -%}
    exists (
        select 1
        from changed_title_days as changed
        where changed.title_id = {{ title_id }}
            and changed.performance_date = {{ day }}
    )
{%- endmacro %}


{#-
    Post-hook of fact_daily_performance: delete the (title, day) rows left with neither fan
    activity nor box office. That happens when the only reports of a day were superseded by
    reports Silver excludes (zero or negative revenue): an incremental delete+insert cannot
    remove a key it has no new row for. Interactions are append-only, so a row with
    interactions = 0 is a box-office-only day and this delete touches only those.
-#}
{% macro delete_days_without_activity() -%}
    delete from {{ this }}
    where interactions = 0
        and not exists (
            select 1
            from {{ ref('fact_box_office') }} as box_office
            where box_office.title_id = {{ this }}.title_id
                and box_office.report_date = {{ this }}.performance_date
        )
{%- endmacro %}
