"""The quality area's part of `sony-de snowflake deploy`: the custom Data Metric Functions.

The deploy creates every custom DMF of the registry (dmfs.yml) in the target database, with
the statement the DMF check steps issue at run time (then a no-op). Attaching them
(`ALTER TABLE ... ADD DATA METRIC FUNCTION`) stays with the check steps: it needs the dbt
tables, and dbt's CREATE OR REPLACE drops a table's attachments on every rebuild.
"""

from __future__ import annotations

from sony_de_platform.governance.access import Schema
from sony_de_platform.quality.registry import Registry, load_registry
from sony_de_platform.warehouse.data_metrics import SnowflakeDataMetrics


def dmf_deploy_statements(database: str, registry: Registry | None = None) -> list[str]:
    """CREATE DATA METRIC FUNCTION IF NOT EXISTS for every custom DMF, in registry order;
    CREATE SCHEMA first only when the DMF schema is not one the deploy creates anyway."""
    registry = (registry or load_registry()).in_database(database)
    own_schema = registry.schema not in {schema.value for schema in Schema}
    return SnowflakeDataMetrics().functions_sql(registry, registry.functions, schema=own_schema)
