{#-
    franchise_fans_after_append(appended): agg_franchise_performance's franchise_fans (the
    distinct fans per franchise number and region) in an INCREMENTAL refresh on append
    (macros/dynamic_table/refresh_on_append.sql), when new interactions are the only change:
    the fans each franchise and region counted at the last refresh, plus the fans that the
    appended interactions bring to a franchise and region none of their earlier interactions
    had. The whole query groups every interaction's (franchise, region, fan), 1.6 million
    keys at scale 10; this reads the new rows and the earlier rows of their fans.
    It reads the model's title_catalog CTE.
-#}
{% macro franchise_fans_after_append(appended) %}
    {%- set interactions = ref('stg_fan_interactions') -%}
    {#- the interactions are the model's one append-only input: the rows stamped above
        `through` are new (none if another input was appended) -#}
    {%- set change = appended.get(dynamic_table_input_name(interactions))
        or {'stamp': '_ingest_seq', 'through': none} -%}
    {%- set arrived = 'false' if change.through is none
        else 'arrivals.' ~ change.stamp ~ ' > ' ~ change.through -%}
    {#- the appended fans, kept in a temp table: DuckDB then knows how few they are and
        finds their earlier rows by probing the interactions against them. Computed in the
        query, they were estimated as many as the earlier rows, and DuckDB hashed every
        earlier interaction instead (0.15 of the refresh's 0.2 s at scale 10). -#}
    {%- set appended_fans = this.identifier ~ '__dt_appended_fans' -%}
    {%- if execute -%}
        {% call statement('franchise_fans_appended_fans') %}
            create or replace temp table {{ appended_fans }} as
            select distinct fan_id from {{ interactions }} as arrivals where {{ arrived }}
        {% endcall %}
    {%- endif -%}
    with fan_rows as (
        -- every interaction of the appended fans, new or earlier, by franchise and region
        select
            title_catalog.franchise_number,
            arrivals.region,
            arrivals.fan_id,
            {{ arrived }} as is_appended
        from {{ interactions }} as arrivals
        inner join title_catalog
            on arrivals.title_id = title_catalog.title_id
        where arrivals.fan_id in (select fan_id from {{ appended_fans }})
    ),

    appended_keys as (
        select distinct
            franchise_number,
            region,
            fan_id
        from fan_rows
        where is_appended
    ),

    first_seen as (
        select
            franchise_number,
            region,
            count(*) as fans
        from appended_keys
        where not exists (
            select 1
            from fan_rows as earlier
            where not earlier.is_appended
                and earlier.fan_id = appended_keys.fan_id
                and earlier.region = appended_keys.region
                and earlier.franchise_number = appended_keys.franchise_number
        )
        group by franchise_number, region
    ),

    counted as (
        select
            franchise_numbers.franchise_number,
            counted.region,
            counted.unique_fans
        from {{ this }} as counted
        inner join (select distinct franchise, franchise_number from title_catalog) as franchise_numbers
            on counted.franchise is not distinct from franchise_numbers.franchise
    )

    select
        coalesce(counted.franchise_number, first_seen.franchise_number) as franchise_number,
        coalesce(counted.region, first_seen.region) as region,
        coalesce(counted.unique_fans, 0) + coalesce(first_seen.fans, 0) as unique_fans
    from counted
    full outer join first_seen
        on counted.franchise_number = first_seen.franchise_number
        and counted.region = first_seen.region
{% endmacro %}
