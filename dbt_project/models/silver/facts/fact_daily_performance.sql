-- One row per title and day, over every day with fan activity or box office for the title.
-- Fan purchases count toward the title and day of the event; box office is summed over
-- regions for the title and report day.
--
-- Incremental: a run recomputes only the (title, day) keys that changed, and replaces them
-- (delete+insert on the key). A key changed when an interaction arrived after the highest
-- _ingest_seq the table has counted, or when its box office differs from fact_box_office (a
-- new or a superseding report). A key left with neither fan activity nor box office is
-- deleted by the post-hook. The result equals a full refresh over the same data.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['title_id', 'performance_date'],
        on_schema_change='fail',
        post_hook=["{{ delete_days_without_activity() }}"],
    )
}}

with interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

box_office as (
    select * from {{ ref('fact_box_office') }}
),

box_office_by_title_day as (
    select
        title_id,
        report_date as performance_date,
        cast(sum(gross_revenue_usd) as decimal(18, 2)) as box_office_gross_usd,
        coalesce(sum(tickets_sold), 0) as tickets_sold
    from box_office
    group by title_id, report_date
),

{% if is_incremental() %}
changed_title_days as (
    -- the model itself, not the CTE: a CTE read twice is materialized whole on DuckDB
    select distinct
        title_id,
        event_date as performance_date
    from {{ ref('stg_fan_interactions') }}
    where _ingest_seq > {{ ingest_watermark() }}

    union

    select
        coalesce(reported.title_id, counted.title_id) as title_id,
        coalesce(reported.performance_date, counted.performance_date) as performance_date
    from box_office_by_title_day as reported
    full outer join (
        select title_id, performance_date, box_office_gross_usd, tickets_sold
        from {{ this }}
        where box_office_gross_usd <> 0 or tickets_sold <> 0
    ) as counted
        on reported.title_id = counted.title_id
        and reported.performance_date = counted.performance_date
    where reported.title_id is null
        or counted.title_id is null
        or reported.box_office_gross_usd <> counted.box_office_gross_usd
        or reported.tickets_sold <> counted.tickets_sold
),
{% endif %}

fan_activity_by_title_day as (
    select
        title_id,
        event_date as performance_date,
        count(*) as interactions,
        count(distinct fan_id) as unique_fans,
        sum(case when interaction_type = 'view' then 1 else 0 end) as views,
        sum(case when interaction_type = 'like' then 1 else 0 end) as likes,
        sum(case when interaction_type = 'share' then 1 else 0 end) as shares,
        sum(case when interaction_type = 'review' then 1 else 0 end) as reviews,
        sum(case when is_purchase then 1 else 0 end) as purchases,
        sum(case when is_purchase then amount_usd else 0 end) as fan_revenue_usd,
        avg(rating) as avg_rating,
        max(_ingest_seq) as _ingest_seq
    from interactions
    {% if is_incremental() %}
    where {{ among_changed_title_days('interactions.title_id', 'interactions.event_date') }}
    {% endif %}
    group by title_id, event_date
),

box_office_of_title_days as (
    select *
    from box_office_by_title_day
    {% if is_incremental() %}
    where {{ among_changed_title_days(
        'box_office_by_title_day.title_id', 'box_office_by_title_day.performance_date') }}
    {% endif %}
),

title_days as (
    select title_id, performance_date from fan_activity_by_title_day
    union
    select title_id, performance_date from box_office_of_title_days
)

select
    title_days.title_id,
    title_days.performance_date,
    coalesce(fan.interactions, 0) as interactions,
    coalesce(fan.unique_fans, 0) as unique_fans,
    coalesce(fan.views, 0) as views,
    coalesce(fan.likes, 0) as likes,
    coalesce(fan.shares, 0) as shares,
    coalesce(fan.reviews, 0) as reviews,
    coalesce(fan.purchases, 0) as purchases,
    cast(coalesce(fan.fan_revenue_usd, 0) as decimal(18, 2)) as fan_revenue_usd,
    cast(fan.avg_rating as decimal(4, 2)) as avg_rating,
    cast(coalesce(bo.box_office_gross_usd, 0) as decimal(18, 2)) as box_office_gross_usd,
    coalesce(bo.tickets_sold, 0) as tickets_sold,
    fan._ingest_seq
from title_days
left join fan_activity_by_title_day as fan
    on title_days.title_id = fan.title_id
    and title_days.performance_date = fan.performance_date
left join box_office_of_title_days as bo
    on title_days.title_id = bo.title_id
    and title_days.performance_date = bo.performance_date
