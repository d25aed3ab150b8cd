"""Run the medallion job once in this process: the child the reliability tests kill or race.

Settings come from the environment like any deployment (SONY_DE_DATA_DIR, DAGSTER_HOME).
"""

from __future__ import annotations

import sys

from dagster import DagsterInstance

from sony_de_platform.definitions import build_definitions
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.settings import load_settings


def main() -> int:
    settings = load_settings()
    job = build_definitions(settings).resolve_job_def(MEDALLION_FULL_BUILD)
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    print(f"run {result.run_id} {'succeeded' if result.success else 'failed'}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
