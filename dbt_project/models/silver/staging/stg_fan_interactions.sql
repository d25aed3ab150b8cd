-- One row per fan interaction, typed and PII-free. Duplicates keep the first arrival
-- (lowest _ingest_seq); events stamped after their own load (future timestamps) are dropped;
-- email, full_name, phone and date_of_birth never leave RAW, only a hash of a valid email does.
--
-- Incremental on the Bronze ingest sequence: a run reads only the RAW rows after the highest
-- _ingest_seq already kept (up to the highest there when the run starts), and appends the
-- first arrivals among them. A later copy of an interaction already received (kept or not)
-- stays out, so the table always equals a full refresh over the same RAW rows. Rows after
-- the watermark that were excluded last time (a future-dated event, a duplicate) are read
-- again and excluded again.
--
-- Append-only on _ingest_seq (meta append_only_on): the Gold dynamic tables read only the
-- rows stamped after their last refresh to find what changed (stamped_inputs.sql).
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        meta={'append_only_on': '_ingest_seq'},
        post_hook=["{{ mark_build_from_scratch() }}"],
    )
}}

with raw_interactions as (
    select * from {{ source('raw', 'RAW_FAN_INTERACTIONS') }}
),

{% if is_incremental() %}
{%- set bounds = arrival_bounds(source('raw', 'RAW_FAN_INTERACTIONS'), 'interaction_id') %}
watermark as (
    select coalesce(max(_ingest_seq), -1) as kept_through_seq from {{ this }}
),

arrivals as (
    select raw_interactions.*
    from raw_interactions
    cross join watermark
    where raw_interactions._ingest_seq > watermark.kept_through_seq
    {%- if bounds is not none %}
        and raw_interactions._ingest_seq <= {{ bounds.through_seq }}
    {%- endif %}
),

received_before as (
    -- ids of this batch that an earlier load already brought (kept or not). The earlier rows
    -- are probed against the batch's ids: a NOT EXISTS over them hashes every earlier row.
    -- The source itself, not the CTE: a CTE read twice is materialized whole on DuckDB.
    -- Between the batch's lowest and highest id, as literals (arrival_bounds): interaction
    -- ids grow with time, so the probe reads the row groups of recent loads, not all.
    select distinct earlier.interaction_id
    from {{ source('raw', 'RAW_FAN_INTERACTIONS') }} as earlier
    cross join watermark
    where earlier._ingest_seq <= watermark.kept_through_seq
        and earlier.interaction_id in (select interaction_id from arrivals)
    {%- if bounds is not none %}
        and earlier.interaction_id between {{ bounds.lowest_id }} and {{ bounds.highest_id }}
    {%- endif %}
),

first_arrivals as (
    select *
    from arrivals
    where interaction_id is not null
        and not exists (
            select 1
            from received_before
            where received_before.interaction_id = arrivals.interaction_id
        )
    {{ qualify_first('interaction_id', '_ingest_seq') }}
),
{% else %}
first_arrivals as (
    select *
    from raw_interactions
    where interaction_id is not null
    {{ qualify_first('interaction_id', '_ingest_seq') }}
),
{% endif %}

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
