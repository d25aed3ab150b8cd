{#-
    latest_box_office_reports(raw_reports): the latest report (highest _ingest_seq) for each
    title, report day and region among `raw_reports` (RAW_BOX_OFFICE rows), typed; reports
    without a readable key are left out. Revenue is not judged here: stg_box_office keeps
    positive revenue only, and an incremental fact_box_office run needs the latest report of
    each key it recomputes, whatever its revenue, to know whether the key's row goes.
-#}
{% macro latest_box_office_reports(raw_reports) %}
    select *
    from (
        select
            title_id,
            try_cast(report_date as date) as report_date,
            region,
            try_cast(screens as integer) as screens,
            try_cast(tickets_sold as integer) as tickets_sold,
            try_cast(gross_revenue_usd as decimal(18, 2)) as gross_revenue_usd,
            _ingest_seq,
            _loaded_at
        from {{ raw_reports }}
    ) as typed
    where title_id is not null and report_date is not null and region is not null
    {{ qualify_first('title_id, report_date, region', '_ingest_seq desc') }}
{% endmacro %}


{#-
    Post-hook of fact_box_office: delete the rows without positive revenue. An incremental
    run replaces each key that has a newer report with that report; when the newest report's
    revenue is zero, negative or unreadable the key has no row, as in a full refresh.
-#}
{% macro delete_box_office_without_revenue() -%}
    delete from {{ this }}
    where not coalesce(gross_revenue_usd > 0, false)
{%- endmacro %}
