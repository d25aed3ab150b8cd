-- One row per franchise and region: fan engagement and revenue next to box office.
-- Fan activity counts toward the region the fan was in at event time; box office toward
-- the region it was reported for. Activity on a title missing from the catalog has no
-- franchise and is left out (the relationships tests on the facts warn about it).
--
-- The interactions are read twice, and only the distinct count of fans reads every one of
-- them against the catalog: counts and revenue are summed per title and region first (tens
-- of thousands of rows), then per franchise.
with title_region_activity as (
    select
        title_id,
        region,
        count(*) as interactions,
        sum(case when is_purchase then amount_usd else 0 end) as fan_revenue_usd
    from {{ ref('stg_fan_interactions') }}
    group by title_id, region
),

title_catalog as (
    -- the one aggregate over every interaction, the distinct count of fans, groups on the
    -- franchise number
    {{ titles_with_franchise_number(ref('dim_titles')) }}
),

box_office as (
    select * from {{ ref('fact_box_office') }}
),

franchise_fans as (
    select
        title_catalog.franchise_number,
        interactions.region,
        count(distinct interactions.fan_id) as unique_fans
    from {{ ref('stg_fan_interactions') }} as interactions
    inner join title_catalog
        on interactions.title_id = title_catalog.title_id
    group by title_catalog.franchise_number, interactions.region
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
        title_catalog.franchise_number,
        title_region_activity.region,
        cast(sum(title_region_activity.interactions) as bigint) as interactions,
        sum(title_region_activity.fan_revenue_usd) as fan_revenue_usd
    from title_region_activity
    inner join title_catalog
        on title_region_activity.title_id = title_catalog.title_id
    group by title_catalog.franchise, title_catalog.franchise_number, title_region_activity.region
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
    select title_catalog.franchise, title_region_activity.region, title_region_activity.title_id
    from title_region_activity
    inner join title_catalog
        on title_region_activity.title_id = title_catalog.title_id
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
        coalesce(franchise_fans.unique_fans, 0) as unique_fans,
        cast(coalesce(fan_totals.fan_revenue_usd, 0) as decimal(18, 2)) as fan_revenue_usd,
        cast(coalesce(box_office_totals.box_office_gross_usd, 0) as decimal(18, 2))
            as box_office_gross_usd,
        title_totals.avg_imdb_score
    from title_totals
    left join fan_totals
        on title_totals.franchise = fan_totals.franchise
        and title_totals.region = fan_totals.region
    left join franchise_fans
        on fan_totals.franchise_number = franchise_fans.franchise_number
        and fan_totals.region = franchise_fans.region
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
