-- One row per title, day and region: the box-office reports that survived Silver's
-- dedup and revenue checks, as the single source of box-office figures for Gold.
--
-- Incremental on the Bronze ingest sequence (delete+insert on the key): a run reads only the
-- RAW reports after the highest _ingest_seq the table keeps, and replaces each key they
-- report on with its newest report. Every report after that watermark is newer than every
-- report before it, so the newest among them is the key's newest overall, as a full refresh
-- (stg_box_office) decides. A newest report without positive revenue removes the key's row
-- (post-hook). A run with no new report reads a few rows and writes none.
-- depends_on: {{ source('raw', 'RAW_BOX_OFFICE') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['title_id', 'report_date', 'region'],
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_box_office_without_revenue() }}"],
    )
}}

{% if is_incremental() %}
with new_reports as (
    select *
    from {{ source('raw', 'RAW_BOX_OFFICE') }}
    {#- a table built before the watermark existed: every report, once #}
    {%- if has_ingest_watermark() %}
    where _ingest_seq > {{ ingest_watermark() }}
    {%- endif %}
),

box_office as (
    {{ latest_box_office_reports('new_reports') }}
)
{% else %}
with box_office as (
    select * from {{ ref('stg_box_office') }}
)
{% endif %}

select
    title_id,
    report_date,
    region,
    screens,
    tickets_sold,
    gross_revenue_usd,
    _ingest_seq
from box_office
