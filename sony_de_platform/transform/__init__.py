"""Transform: the dbt project (Silver, Gold, SCD2 snapshot) as Dagster assets."""
