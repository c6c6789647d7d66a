"""Settings: defaults, sources and precedence, one-line errors, documentation in sync."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from aggregator.config import Settings, env_name, load_settings, render_docs
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_load_and_validate() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///db/")
    assert settings.public_base_url() == "http://127.0.0.1:8080"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    config = tmp_path / "aggregator.toml"
    config.write_text('[aggregator]\nport = 9000\nlog_format = "json"\n')
    settings = load_settings(config, env={"AGGREGATOR_PORT": "9100"})
    assert settings.port == 9100
    assert settings.log_format == "json"


def test_top_level_keys_in_file(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text("auto_migrate = true\nmax_per_host = 2\n")
    settings = load_settings(config, env={})
    assert settings.auto_migrate is True and settings.max_per_host == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AGGREGATOR_PORT": "eighty"}, "AGGREGATOR_PORT='eighty' is not allowed: a whole number"),
        (
            {"AGGREGATOR_PORT": "70000"},
            "AGGREGATOR_PORT=70000 is not allowed: a number from 1 to 65535",
        ),
        (
            {"AGGREGATOR_AUTO_MIGRATE": "maybe"},
            "AGGREGATOR_AUTO_MIGRATE='maybe' is not allowed: true or false",
        ),
        (
            {"AGGREGATOR_LOG_LEVEL": "LOUD"},
            "AGGREGATOR_LOG_LEVEL='LOUD' is not allowed: one of DEBUG, INFO, WARNING, ERROR",
        ),
        (
            {"AGGREGATOR_DATABASE_URL": "mysql://x"},
            "AGGREGATOR_DATABASE_URL='mysql://x' is not allowed: a sqlite+aiosqlite:// or postgresql+asyncpg:// URL",
        ),
        (
            {"AGGREGATOR_ALLOWED_NETWORKS": "127.0.0.1/40"},
            "AGGREGATOR_ALLOWED_NETWORKS='127.0.0.1/40' is not allowed",
        ),
        (
            {"AGGREGATOR_MIN_INTERVAL_S": "7200", "AGGREGATOR_MAX_INTERVAL_S": "3600"},
            "is larger than AGGREGATOR_MAX_INTERVAL_S=3600",
        ),
    ],
)
def test_bad_values_give_one_line_naming_setting_value_and_allowed(
    env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_bad_file_values_and_unknown_keys(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('port = "high"\n')
    with pytest.raises(ConfigError, match="port='high' is not allowed: a whole number"):
        load_settings(config, env={})
    config.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(config, env={})
    config.write_text("port = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})


def test_every_setting_is_documented() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for f in fields(Settings):
        assert f"`{env_name(f.name)}`" in docs, f"{f.name} missing from docs/configuration.md"
        assert f.metadata.get("help"), f"{f.name} has no help text"
    assert docs == render_docs(), (
        "docs/configuration.md is stale: run `aggregator config docs docs/configuration.md`"
    )


def test_secrets_are_masked() -> None:
    settings = load_settings(env={"AGGREGATOR_SECRET_KEY": "hunter2"})
    assert settings.secret_key == "hunter2"
    assert settings.redacted()["secret_key"] == "***"


def test_cli_bad_value_is_one_line_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "config", "show"],
        env={"AGGREGATOR_PORT": "abc", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: AGGREGATOR_PORT='abc' is not allowed: a whole number"
    assert "Traceback" not in result.stderr


def test_cli_config_show_lists_every_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "config", "show", "--json"],
        env={"AGGREGATOR_SECRET_KEY": "s3cret", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "s3cret" not in result.stdout
    for f in fields(Settings):
        assert f'"{f.name}"' in result.stdout
