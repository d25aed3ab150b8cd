-- One row per fan: the current profile (taken from the fan's latest event), the e-mail hash
-- kept by the CDC routing, and lifetime activity. It is the input of the SCD2 snapshot
-- snp_fan_profiles, which versions region and preferred_genre, so "latest" must be
-- deterministic: event_ts, then interaction_id.
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

routed_email_hashes as (
    -- the routing keeps one hash per fan: verified fans in the SECURE vault (only the hash is
    -- read from it), guests in STG.GUEST_FANS; a fan is in one of the two, never both
    select fan_id, email_hash from {{ source('secure', 'FAN_PII_VAULT') }}
    union all
    select fan_id, email_hash from {{ source('routed', 'GUEST_FANS') }}
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
    routed_email_hashes.email_hash,
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
left join routed_email_hashes
    on fan_activity.fan_id = routed_email_hashes.fan_id
