-- One row per fan interaction, typed and PII-free. Duplicates keep the first arrival
-- (lowest _ingest_seq); events stamped after their own load (future timestamps) are dropped;
-- email, full_name, phone and date_of_birth never leave RAW, only a hash of a valid email does.
with raw_interactions as (
    select * from {{ source('raw', 'RAW_FAN_INTERACTIONS') }}
),

first_arrivals as (
    select *
    from raw_interactions
    where interaction_id is not null
    {{ qualify_first('interaction_id', '_ingest_seq') }}
),

typed as (
    select
        interaction_id,
        fan_id,
        fan_type,
        coalesce(fan_type = 'verified', false) as is_verified,
        {{ hashed_valid_email('email') }} as email_hash,
        {{ is_valid_email('email') }} as has_valid_email,
        region,
        preferred_genre,
        title_id,
        interaction_type,
        coalesce(interaction_type in ('ticket_purchase', 'stream_rental', 'merch_purchase'), false)
            as is_purchase,
        try_cast(amount_usd as decimal(12, 2)) as amount_usd,
        try_cast(rating as integer) as rating,
        channel,
        {{ parse_utc_timestamp('event_ts') }} as event_ts,
        _ingest_seq,
        _loaded_at
    from first_arrivals
)

select
    interaction_id,
    fan_id,
    fan_type,
    is_verified,
    email_hash,
    has_valid_email,
    region,
    preferred_genre,
    title_id,
    interaction_type,
    is_purchase,
    amount_usd,
    rating,
    channel,
    event_ts,
    cast(event_ts as date) as event_date,
    _ingest_seq,
    _loaded_at
from typed
-- a future-dated event (after its own load) is excluded; so is an unreadable timestamp,
-- which could not be placed on a day either
where event_ts <= _loaded_at
