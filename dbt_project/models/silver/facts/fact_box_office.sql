-- One row per title, day and region: the box-office reports that survived Silver's
-- dedup and revenue checks, as the single source of box-office figures for Gold.
with box_office as (
    select * from {{ ref('stg_box_office') }}
)

select
    title_id,
    report_date,
    region,
    screens,
    tickets_sold,
    gross_revenue_usd
from box_office
