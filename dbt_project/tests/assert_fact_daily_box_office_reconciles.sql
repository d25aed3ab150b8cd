-- Box office in fact_daily_performance must equal fact_box_office summed over regions,
-- for every title and day, in both directions (no day lost, none invented).
-- Reads two models: meta.dagster.ref attaches it to one asset so Dagster shows it as a check.
{{ config(meta={'dagster': {'ref': {'name': 'fact_daily_performance'}}}) }}

with from_facts as (
    select title_id, report_date as performance_date,
        sum(gross_revenue_usd) as gross_usd, sum(tickets_sold) as tickets_sold
    from {{ ref('fact_box_office') }}
    group by title_id, report_date
),

from_daily as (
    select title_id, performance_date,
        box_office_gross_usd as gross_usd, tickets_sold
    from {{ ref('fact_daily_performance') }}
    where box_office_gross_usd <> 0 or tickets_sold <> 0
)

select
    coalesce(from_facts.title_id, from_daily.title_id) as title_id,
    coalesce(from_facts.performance_date, from_daily.performance_date) as performance_date,
    from_facts.gross_usd as fact_gross_usd,
    from_daily.gross_usd as daily_gross_usd
from from_facts
full outer join from_daily
    on from_facts.title_id = from_daily.title_id
    and from_facts.performance_date = from_daily.performance_date
where from_facts.gross_usd is null
   or from_daily.gross_usd is null
   or abs(from_facts.gross_usd - from_daily.gross_usd) >= 0.005
   or coalesce(from_facts.tickets_sold, 0) <> coalesce(from_daily.tickets_sold, 0)
