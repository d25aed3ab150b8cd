-- One row per fan: the current profile (taken from the fan's latest event), the e-mail hash
-- kept by the CDC routing, and lifetime activity. It is the input of the SCD2 snapshot
-- snp_fan_profiles, which versions region and preferred_genre, so "latest" must be
-- deterministic: event_ts, then interaction_id.
--
-- Incremental (delete+insert on fan_id): a run touches only the fans that changed, and the
-- result equals a full refresh over the same data. Interactions are append-only, so a fan
-- with interactions after the highest _ingest_seq the table has counted gets its row merged
-- with just those: counts and spend added, first/last interaction widened, and the profile of
-- the newest event taken when it is later than the row's last_interaction_at. Only a fan
-- whose newest new event ties with last_interaction_at (the tie-break interaction_id is not
-- kept) is recomputed from all their interactions. A fan whose routed e-mail hash differs
-- from the table's gets the new hash. A table built before the watermark existed has no
-- _ingest_seq (or _row_version, below): its first incremental run recomputes every fan and
-- adds the column (append_new_columns), so no --full-refresh is needed.
--
-- Versioned on _row_version (meta versioned_on): every row a run writes carries a version
-- above every row written before, so the Gold dynamic tables find the fans that changed as
-- the rows above the version of their last refresh, without hashing every fan's row
-- (stamped_inputs.sql). A build from scratch starts again at 1, under a new build mark.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='fan_id',
        on_schema_change='append_new_columns',
        meta={'versioned_on': '_row_version'},
        post_hook=["{{ mark_build_from_scratch() }}"],
    )
}}

with interactions as (
    select * from {{ ref('stg_fan_interactions') }}
),

routed_email_hashes as (
    -- the routing keeps one hash per fan: verified fans in the SECURE vault (only the hash is
    -- read from it), guests in STG.GUEST_FANS; a fan is in one of the two, never both
    select fan_id, email_hash from {{ source('secure', 'FAN_PII_VAULT') }}
    union all
    select fan_id, email_hash from {{ source('routed', 'GUEST_FANS') }}
),

{%- set this_columns = this_has_columns(['_ingest_seq', '_row_version']) if is_incremental() else {} -%}
{#- a table from before either column recomputes every fan once, each row getting both -#}
{%- set merging = this_columns.get('_ingest_seq', false) and this_columns.get('_row_version', false) -%}

{% if merging %}
arrivals as (
    -- the model itself, not the CTE: a CTE read twice is materialized whole on DuckDB
    select *
    from {{ ref('stg_fan_interactions') }}
    where _ingest_seq > {{ ingest_watermark() }}
),

arrival_activity as (
    select
        fan_id,
        {{ fan_activity_aggregates() }}
    from arrivals
    group by fan_id
),

arrival_profiles as (
    select
        fan_id,
        fan_type,
        is_verified,
        region,
        preferred_genre,
        event_ts
    from arrivals
    {{ qualify_first('fan_id', 'event_ts desc, interaction_id desc') }}
),

merged as (
    select
        arrival_activity.fan_id,
        -- the profile of the newest event when it is later than the counted latest event
        {%- for column in ['fan_type', 'is_verified', 'region', 'preferred_genre'] %}
        case when counted.fan_id is null or newest.event_ts > counted.last_interaction_at
            then newest.{{ column }} else counted.{{ column }} end as {{ column }},
        {%- endfor %}
        case when counted.first_interaction_at < arrival_activity.first_interaction_at
            then counted.first_interaction_at
            else arrival_activity.first_interaction_at end as first_interaction_at,
        case when counted.last_interaction_at > arrival_activity.last_interaction_at
            then counted.last_interaction_at
            else arrival_activity.last_interaction_at end as last_interaction_at,
        coalesce(counted.interaction_count, 0) + arrival_activity.interaction_count
            as interaction_count,
        coalesce(counted.purchase_count, 0) + arrival_activity.purchase_count as purchase_count,
        cast(coalesce(counted.total_spend_usd, 0) + arrival_activity.total_spend_usd
            as decimal(18, 2)) as total_spend_usd,
        arrival_activity._ingest_seq
    from arrival_activity
    inner join arrival_profiles as newest
        on arrival_activity.fan_id = newest.fan_id
    left join {{ this }} as counted
        on arrival_activity.fan_id = counted.fan_id
    -- a tie with the counted latest event needs its interaction_id: recomputed below
    where counted.fan_id is null or newest.event_ts <> counted.last_interaction_at
),

rehashed as (
    -- no new interaction, only a different routed e-mail hash: the row as it is
    select
        counted.fan_id,
        counted.fan_type,
        counted.is_verified,
        counted.region,
        counted.preferred_genre,
        counted.first_interaction_at,
        counted.last_interaction_at,
        counted.interaction_count,
        counted.purchase_count,
        counted.total_spend_usd,
        counted._ingest_seq
    from {{ this }} as counted
    left join routed_email_hashes as routed
        on counted.fan_id = routed.fan_id
    where counted.email_hash is distinct from routed.email_hash
        and counted.fan_id not in (select fan_id from arrival_activity)
),

recomputed_fans as (
    select newest.fan_id
    from arrival_profiles as newest
    inner join {{ this }} as counted
        on newest.fan_id = counted.fan_id
    where newest.event_ts = counted.last_interaction_at
),

fan_interactions as (
    select *
    from interactions
    where fan_id in (select fan_id from recomputed_fans)
),
{% else %}
fan_interactions as (
    -- a first build, a full refresh, or a table without the watermark: every fan
    select * from interactions
),
{% endif %}

latest_profiles as (
    select
        fan_id,
        fan_type,
        is_verified,
        region,
        preferred_genre
    from fan_interactions
    {{ qualify_first('fan_id', 'event_ts desc, interaction_id desc') }}
),

fan_activity as (
    select
        fan_id,
        {{ fan_activity_aggregates() }}
    from fan_interactions
    group by fan_id
),

fans as (
    select
        fan_activity.fan_id,
        latest_profiles.fan_type,
        latest_profiles.is_verified,
        latest_profiles.region,
        latest_profiles.preferred_genre,
        fan_activity.first_interaction_at,
        fan_activity.last_interaction_at,
        fan_activity.interaction_count,
        fan_activity.purchase_count,
        fan_activity.total_spend_usd,
        fan_activity._ingest_seq
    from fan_activity
    inner join latest_profiles
        on fan_activity.fan_id = latest_profiles.fan_id
    {%- if merging %}
    union all
    select * from merged
    union all
    select * from rehashed
    {%- endif %}
)

select
    fans.fan_id,
    fans.fan_type,
    fans.is_verified,
    routed_email_hashes.email_hash,
    fans.region,
    fans.preferred_genre,
    fans.first_interaction_at,
    fans.last_interaction_at,
    fans.interaction_count,
    fans.purchase_count,
    fans.total_spend_usd,
    fans._ingest_seq,
    {%- if this_columns.get('_row_version') %}
    (select coalesce(max(_row_version), 0) + 1 from {{ this }}) as _row_version
    {%- else %}
    cast(1 as bigint) as _row_version
    {%- endif %}
from fans
left join routed_email_hashes
    on fans.fan_id = routed_email_hashes.fan_id
