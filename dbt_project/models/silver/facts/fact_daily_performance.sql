-- One row per title and day, over every day with fan activity or box office for the title.
-- Fan purchases count toward the title and day of the event; box office is summed over
-- regions for the title and report day.
with interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

box_office as (
    select * from {{ ref('fact_box_office') }}
),

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
        avg(rating) as avg_rating
    from interactions
    group by title_id, event_date
),

box_office_by_title_day as (
    select
        title_id,
        report_date as performance_date,
        sum(gross_revenue_usd) as box_office_gross_usd,
        sum(tickets_sold) as tickets_sold
    from box_office
    group by title_id, report_date
),

title_days as (
    select title_id, performance_date from fan_activity_by_title_day
    union
    select title_id, performance_date from box_office_by_title_day
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
    coalesce(bo.tickets_sold, 0) as tickets_sold
from title_days
left join fan_activity_by_title_day as fan
    on title_days.title_id = fan.title_id
    and title_days.performance_date = fan.performance_date
left join box_office_by_title_day as bo
    on title_days.title_id = bo.title_id
    and title_days.performance_date = bo.performance_date
