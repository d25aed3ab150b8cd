-- One row per title, report day and region from the latest report loaded (highest
-- _ingest_seq), typed. A report with zero, negative or unreadable revenue is excluded:
-- box office is never attributed from an implausible figure.
with latest_reports as (
    {{ latest_box_office_reports(source('raw', 'RAW_BOX_OFFICE')) }}
)

select *
from latest_reports
where gross_revenue_usd > 0
