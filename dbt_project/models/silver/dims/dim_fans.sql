-- One row per fan: the current profile (taken from the fan's latest event) and lifetime
-- activity. It is the input of the SCD2 snapshot snp_fan_profiles, which versions region
-- and preferred_genre, so "latest" must be deterministic: event_ts, then interaction_id.
with interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

latest_profiles as (
    select
        fan_id,
        fan_type,
        is_verified,
        region,
        preferred_genre
    from interactions
    {{ qualify_first('fan_id', 'event_ts desc, interaction_id desc') }}
),

latest_valid_emails as (
    select
        fan_id,
        email_hash
    from interactions
    where has_valid_email
    {{ qualify_first('fan_id', 'event_ts desc, interaction_id desc') }}
),

fan_activity as (
    select
        fan_id,
        min(event_ts) as first_interaction_at,
        max(event_ts) as last_interaction_at,
        count(*) as interaction_count,
        sum(case when is_purchase then 1 else 0 end) as purchase_count,
        cast(coalesce(sum(case when is_purchase then amount_usd end), 0) as decimal(18, 2))
            as total_spend_usd
    from interactions
    group by fan_id
)

select
    fan_activity.fan_id,
    latest_profiles.fan_type,
    latest_profiles.is_verified,
    latest_valid_emails.email_hash,
    latest_profiles.region,
    latest_profiles.preferred_genre,
    fan_activity.first_interaction_at,
    fan_activity.last_interaction_at,
    fan_activity.interaction_count,
    fan_activity.purchase_count,
    fan_activity.total_spend_usd
from fan_activity
inner join latest_profiles
    on fan_activity.fan_id = latest_profiles.fan_id
left join latest_valid_emails
    on fan_activity.fan_id = latest_valid_emails.fan_id
