-- SCD2 integrity: every fan in snp_fan_profiles has exactly one current version
-- (dbt_valid_to is null). Reads the snapshot alone, so it holds whatever ran before it.
select
    fan_id,
    sum(case when dbt_valid_to is null then 1 else 0 end) as current_rows
from {{ ref('snp_fan_profiles') }}
group by fan_id
having sum(case when dbt_valid_to is null then 1 else 0 end) <> 1
