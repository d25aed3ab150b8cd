"""The dbt project as Dagster sees it, and keeping its manifest current."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, DbtProject
from packaging.version import Version

from sony_de_platform.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

_IGNORED_DIRS = {"target", "logs", "dbt_packages"}
PARSE_STATE = "partial_parse.msgpack"  # dbt's partial-parsing state, in its target folder


def replace_atomically(source: Path, target: Path) -> None:
    """Replace `target` with a copy of `source` (if it exists) in one rename: a concurrent
    reader gets the old file or the new one, never half of it."""
    if not source.exists():
        return
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


@contextmanager
def scoped_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for one dbt invocation, then restore them, so that one
    run's warehouse path never leaks into what the process (or its children) does next."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _newest_source_mtime(project_dir: Path) -> float:
    """Newest modification time of the project's own files. Artifact folders are pruned
    from the walk, not filtered after it: target/ holds every dbt invocation's artifacts
    and walking them made each code location load slower (benchmarks: section startup)."""
    newest = 0.0
    for folder, subfolders, files in os.walk(project_dir):
        if Path(folder) == project_dir:
            subfolders[:] = [name for name in subfolders if name not in _IGNORED_DIRS]
        for name in files:
            newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
    return newest


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so a venv works without being activated."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


class PlatformDbtCliResource(DbtCliResource):
    """dagster-dbt's resource with dbt run inside the step's process (`cli`), and without
    two costs every dbt step paid for features the platform does not use (benchmarks:
    section orchestration): the version of the dbt executable, asked from a `dbt --version`
    subprocess (the installed dbt-core's is the one that runs), and a dbt adapter built in
    the step's process, which dagster-dbt needs only to fetch row counts or column metadata
    (`cli` builds none)."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def cli(  # type: ignore[override]
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: Any = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: Any = None,
        target_path: Path | None = None,
    ) -> DbtCliInvocation:
        """dagster-dbt's `DbtCliResource.cli` (0.29), with dbt run in this process
        (in_process.InProcessDbt) instead of a `dbt` subprocess: the same selection from the
        step's context, the same environment and arguments, the same invocation object."""
        from dagster_dbt.asset_utils import (
            extract_runtime_selection_from_args,
            get_updated_cli_invocation_params_for_context,
        )
        from dagster_dbt.dagster_dbt_translator import validate_opt_translator
        from dagster_dbt.dbt_manifest import validate_manifest

        from sony_de_platform.transform.in_process import InProcessDbt

        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=validate_manifest(manifest) if manifest else {},
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        project_dir = Path(
            params.dbt_project.project_dir if params.dbt_project else self.project_dir
        )
        target_path = target_path or self._get_unique_target_path(context=context)
        if not target_path.is_absolute():
            target_path = project_dir / target_path
        # partial parsing: start from the state kept beside the manifest (partial_parse_env)
        kept_state = project_dir / os.environ.get("DBT_TARGET_PATH", "target") / PARSE_STATE
        if kept_state.exists() and not (target_path / PARSE_STATE).exists():
            target_path.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kept_state, target_path / PARSE_STATE)
        # a dbt process started in the project folder finds a profiles.yml there first
        profiles_dir = self.profiles_dir or (
            str(project_dir) if (project_dir / "profiles.yml").exists() else None
        )
        env = {
            **os.environ,
            "DAGSTER_DBT_CLI": "true",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_LOG_FORMAT": "json",
            "DBT_QUIET": "true",  # the events reach the step's log through dagster-dbt
            "DBT_TARGET_PATH": os.fspath(target_path),
            "DBT_LOG_PATH": os.fspath(target_path),
            **({"DBT_PROFILES_DIR": profiles_dir} if profiles_dir else {}),
            "DBT_PROJECT_DIR": str(project_dir),
        }
        if params.indirect_selection:
            env["DBT_INDIRECT_SELECTION"] = params.indirect_selection
        profile_args = ["--profile", self.profile] if self.profile else []
        profile_args += ["--target", self.target] if self.target else []
        command = [
            self.dbt_executable,
            *self.global_config_flags,
            *cleaned_args,
            *profile_args,
            *params.selection_args,
        ]
        invocation = DbtCliInvocation(
            process=InProcessDbt(command, env),  # type: ignore[arg-type]
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=self._cli_version,
            project=params.dbt_project,
        )
        log.info("running dbt in this process: %s", invocation.dbt_command)
        return invocation


def build_dbt_project(settings: Settings) -> DbtProject:
    """dbt project with artifacts per engine (target/local, target/snowflake)."""
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target=settings.dbt_target,
        target_path=settings.dbt_target_path.relative_to(DBT_PROJECT_DIR),
    )


def ensure_manifest(project: DbtProject, settings: Settings) -> Path:
    """Parse the project when its manifest is missing or older than any project file.

    Dagster builds the asset graph from manifest.json at load time; parsing here means a
    fresh clone, or an edited model, never loads a stale graph.
    """
    manifest = project.manifest_path
    if _is_current(manifest, project.project_dir):
        return manifest
    settings.dbt_target_path.mkdir(parents=True, exist_ok=True)
    # Several processes (test workers, a webserver and a daemon) may load at once: one parses.
    with open(settings.dbt_target_path / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_current(manifest, project.project_dir):
            _parse(project, settings)
    return manifest


def _is_current(manifest: Path, project_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir)


def _parse(project: DbtProject, settings: Settings) -> None:
    log.info("parsing the dbt project (%s)", project.manifest_path)
    command = [
        dbt_executable(),
        "parse",
        "--project-dir",
        str(project.project_dir),
        "--profiles-dir",
        str(project.profiles_dir),
        "--target",
        settings.dbt_target,
        "--target-path",
        str(settings.dbt_target_path),
        "--quiet",
    ]
    env = {**os.environ, **settings.dbt_env()}  # PATH, HOME, SNOWFLAKE_* pass through
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"dbt parse of {project.project_dir} failed (exit {completed.returncode}); fix the "
            f"project and reload.\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
        )
