from pathlib import Path

import pytest

from sony_de_platform.settings import (
    DBT_PROJECT_DIR,
    REPO_ROOT,
    Engine,
    SettingsError,
    load_settings,
)


def test_defaults_are_embedded_duckdb_under_the_repo() -> None:
    settings = load_settings({})
    assert settings.engine is Engine.DUCKDB
    assert settings.data_dir == REPO_ROOT / "data"
    assert settings.warehouse_path == REPO_ROOT / "data" / "warehouse" / "SONY_DE.duckdb"
    assert settings.landing_dir == REPO_ROOT / "data" / "landing"
    assert settings.dbt_target == "local"
    assert settings.dbt_target_path == DBT_PROJECT_DIR / "target" / "local"
    assert settings.dbt_env() == {
        "SONY_DE_DBT_TARGET": "local",
        "SONY_DE_DUCKDB_PATH": str(settings.warehouse_path),
        # dbt-duckdb waits 1 + 2 + ... + 256 = 511 s for the file, within the 600 s writers wait
        "SONY_DE_DUCKDB_CONNECT_ATTEMPTS": "9",
    }


def test_data_folder_is_overridable(tmp_path: Path) -> None:
    settings = load_settings({"SONY_DE_DATA_DIR": str(tmp_path)})
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.warehouse_path == tmp_path / "warehouse" / "SONY_DE.duckdb"


def test_unknown_engine_names_the_variable_and_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"SONY_DE_TARGET='oracle'.*duckdb, snowflake"):
        load_settings({"SONY_DE_TARGET": "oracle"})


def test_snowflake_without_credentials_names_each_missing_variable() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"SONY_DE_TARGET": "snowflake", "SNOWFLAKE_ACCOUNT": "xy12345"})
    message = str(error.value)
    assert "SNOWFLAKE_USER" in message
    assert "SNOWFLAKE_PASSWORD" in message
    assert "SNOWFLAKE_ACCOUNT," not in message


def test_snowflake_secrets_are_kept_as_variable_names_only() -> None:
    settings = load_settings(
        {
            "SONY_DE_TARGET": "snowflake",
            "SNOWFLAKE_ACCOUNT": "xy12345",
            "SNOWFLAKE_USER": "loader",
            "SNOWFLAKE_PASSWORD": "s3cret-value",
        }
    )
    assert settings.engine is Engine.SNOWFLAKE
    assert settings.dbt_target == "snowflake"
    assert settings.snowflake_vars["password"] == "SNOWFLAKE_PASSWORD"
    assert "s3cret-value" not in repr(settings)


def test_duckdb_file_must_be_named_after_the_database(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SONY_DE.duckdb"):
        load_settings({"SONY_DE_DUCKDB_PATH": str(tmp_path / "other.duckdb")})


def test_snowflake_object_names_default_and_fold_to_upper_case() -> None:
    assert (load_settings({}).snowflake_database, load_settings({}).snowflake_warehouse) == (
        "SONY_DE",
        "SONY_DE_WH",
    )
    settings = load_settings(
        {
            "SONY_DE_TARGET": "snowflake",
            "SNOWFLAKE_ACCOUNT": "xy12345",
            "SNOWFLAKE_USER": "loader",
            "SNOWFLAKE_PRIVATE_KEY_PATH": "/keys/loader.p8",
            "SNOWFLAKE_DATABASE": "sony_de_dev",
            "SNOWFLAKE_WAREHOUSE": "compute_wh",
        }
    )
    assert (settings.snowflake_database, settings.snowflake_warehouse) == (
        "SONY_DE_DEV",
        "COMPUTE_WH",
    )
    # dbt builds in the database and warehouse the Python side uses, defaults included.
    assert settings.dbt_env() == {
        "SONY_DE_DBT_TARGET": "snowflake",
        "SNOWFLAKE_DATABASE": "SONY_DE_DEV",
        "SNOWFLAKE_WAREHOUSE": "COMPUTE_WH",
    }


def test_an_unusable_snowflake_name_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"SNOWFLAKE_WAREHOUSE='my warehouse'"):
        load_settings({"SNOWFLAKE_WAREHOUSE": "my warehouse"})


def test_monitor_role_follows_the_database_unless_set() -> None:
    """The deploy names roles after the database, so a per-run database's dashboard reads as
    that database's monitor role; SONY_DE_MONITOR_ROLE overrides it."""
    assert load_settings({}).monitor_role == "SONY_DE_MONITOR"
    assert load_settings({"SNOWFLAKE_DATABASE": "sony_de_ci_7"}).monitor_role == (
        "SONY_DE_CI_7_MONITOR"
    )
    overridden = load_settings({"SNOWFLAKE_DATABASE": "X", "SONY_DE_MONITOR_ROLE": "READER"})
    assert overridden.monitor_role == "READER"
