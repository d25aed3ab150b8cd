"""The medallion layers as Dagster asset groups: every area names its assets' group from
here (Bronze loads, the routing and dbt's Silver and Gold, the checks and sensors that
select them), so a group is spelled once."""

BRONZE_GROUP = "bronze"
SILVER_GROUP = "silver"
GOLD_GROUP = "gold"
