-- One row per verified fan with at least one purchase: what they spent, when, what they
-- like most, and an LTV band (macro ltv_segment, thresholds in project vars) for targeting.
-- Guests are left out: marketing may only target fans who verified their identity.
with fans as (
    select * from {{ ref('dim_fans') }}
),

interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

titles as (
    -- the activity below groups every interaction of the fans by franchise number
    {{ titles_with_franchise_number(ref('dim_titles')) }}
),

paying_verified_fans as (
    select *
    from fans
    where is_verified and purchase_count > 0
),

fan_franchise_activity as (
    -- interactions are read once: a second read of the CTE would materialize every column
    -- of it on DuckDB. Interactions on a title missing from the catalog have no franchise
    -- but still count toward the purchase window.
    select
        interactions.fan_id,
        titles.title_id is not null as in_catalog,
        titles.franchise_number,
        count(*) as interaction_count,
        sum(case when interactions.is_purchase then interactions.amount_usd else 0 end)
            as spend_usd,
        min(case when interactions.is_purchase then interactions.event_ts end)
            as first_purchase_at,
        max(case when interactions.is_purchase then interactions.event_ts end)
            as last_purchase_at
    from interactions
    left join titles
        on interactions.title_id = titles.title_id
    group by interactions.fan_id, titles.title_id is not null, titles.franchise_number
),

purchase_windows as (
    select
        fan_id,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at
    from fan_franchise_activity
    where first_purchase_at is not null
    group by fan_id
),

favourite_franchise_numbers as (
    -- most interactions; ties go to the higher spend, then the franchise name (numbered in
    -- its order)
    select
        fan_id,
        franchise_number
    from fan_franchise_activity
    where in_catalog
    {{ qualify_first('fan_id', 'interaction_count desc, spend_usd desc, franchise_number') }}
),

franchise_names as (
    select distinct
        franchise_number,
        franchise
    from titles
),

favourite_franchises as (
    select
        favourite_franchise_numbers.fan_id,
        franchise_names.franchise
    from favourite_franchise_numbers
    inner join franchise_names
        on favourite_franchise_numbers.franchise_number = franchise_names.franchise_number
)

select
    paying_verified_fans.fan_id,
    paying_verified_fans.email_hash,
    paying_verified_fans.region,
    paying_verified_fans.purchase_count,
    paying_verified_fans.total_spend_usd,
    purchase_windows.first_purchase_at,
    purchase_windows.last_purchase_at,
    paying_verified_fans.interaction_count,
    favourite_franchises.franchise as favourite_franchise,
    {{ ltv_segment('paying_verified_fans.total_spend_usd') }} as ltv_segment
from paying_verified_fans
inner join purchase_windows
    on paying_verified_fans.fan_id = purchase_windows.fan_id
left join favourite_franchises
    on paying_verified_fans.fan_id = favourite_franchises.fan_id
