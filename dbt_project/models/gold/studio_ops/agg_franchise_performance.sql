-- One row per franchise and region: fan engagement and revenue next to box office.
-- Fan activity counts toward the region the fan was in at event time; box office toward
-- the region it was reported for. Activity on a title missing from the catalog has no
-- franchise and is left out (the relationships tests on the facts warn about it).
with interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

title_catalog as (
    select * from {{ ref('dim_titles') }}
),

box_office as (
    select * from {{ ref('fact_box_office') }}
),

franchise_box_office as (
    select
        title_catalog.franchise,
        box_office.region,
        box_office.title_id,
        box_office.gross_revenue_usd
    from box_office
    inner join title_catalog
        on box_office.title_id = title_catalog.title_id
),

fan_totals as (
    select
        title_catalog.franchise,
        interactions.region,
        count(*) as interactions,
        count(distinct interactions.fan_id) as unique_fans,
        sum(case when interactions.is_purchase then interactions.amount_usd else 0 end)
            as fan_revenue_usd
    from interactions
    inner join title_catalog
        on interactions.title_id = title_catalog.title_id
    group by title_catalog.franchise, interactions.region
),

interaction_titles as (
    -- the model itself, not the CTE: a CTE read twice is materialized whole on DuckDB
    select distinct
        title_id,
        region
    from {{ ref('stg_fan_interactions') }}
),

box_office_totals as (
    select
        franchise,
        region,
        sum(gross_revenue_usd) as box_office_gross_usd
    from franchise_box_office
    group by franchise, region
),

active_titles as (
    select title_catalog.franchise, interaction_titles.region, interaction_titles.title_id
    from interaction_titles
    inner join title_catalog
        on interaction_titles.title_id = title_catalog.title_id
    union
    select franchise, region, title_id from franchise_box_office
),

title_totals as (
    select
        active_titles.franchise,
        active_titles.region,
        count(*) as titles,
        avg(title_catalog.imdb_score) as avg_imdb_score
    from active_titles
    inner join title_catalog
        on active_titles.title_id = title_catalog.title_id
    group by active_titles.franchise, active_titles.region
),

combined as (
    select
        title_totals.franchise,
        title_totals.region,
        title_totals.titles,
        coalesce(fan_totals.interactions, 0) as interactions,
        coalesce(fan_totals.unique_fans, 0) as unique_fans,
        cast(coalesce(fan_totals.fan_revenue_usd, 0) as decimal(18, 2)) as fan_revenue_usd,
        cast(coalesce(box_office_totals.box_office_gross_usd, 0) as decimal(18, 2))
            as box_office_gross_usd,
        title_totals.avg_imdb_score
    from title_totals
    left join fan_totals
        on title_totals.franchise = fan_totals.franchise
        and title_totals.region = fan_totals.region
    left join box_office_totals
        on title_totals.franchise = box_office_totals.franchise
        and title_totals.region = box_office_totals.region
)

select
    franchise,
    region,
    titles,
    interactions,
    unique_fans,
    fan_revenue_usd,
    box_office_gross_usd,
    cast(fan_revenue_usd + box_office_gross_usd as decimal(18, 2)) as total_revenue_usd,
    cast(avg_imdb_score as decimal(4, 2)) as avg_imdb_score
from combined
