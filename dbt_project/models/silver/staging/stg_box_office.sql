-- One row per title, report day and region from the latest report loaded (highest
-- _ingest_seq), typed. A report with zero, negative or unreadable revenue is excluded:
-- box office is never attributed from an implausible figure.
with raw_box_office as (
    select * from {{ source('raw', 'RAW_BOX_OFFICE') }}
),

typed as (
    select
        title_id,
        try_cast(report_date as date) as report_date,
        region,
        try_cast(screens as integer) as screens,
        try_cast(tickets_sold as integer) as tickets_sold,
        try_cast(gross_revenue_usd as decimal(18, 2)) as gross_revenue_usd,
        _ingest_seq,
        _loaded_at
    from raw_box_office
),

latest_reports as (
    select *
    from typed
    where title_id is not null and report_date is not null and region is not null
    {{ qualify_first('title_id, report_date, region', '_ingest_seq desc') }}
)

select *
from latest_reports
where gross_revenue_usd > 0
