"""The `ivr` command's small subcommands, and migrations that match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from ivr.cli import main
from ivr.config import ConfigError, load_settings
from ivr.models import Base
from ivr.store.db import in_models


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    for name in ("DATABASE_URL", "REDIS_URL", "TWILIO_AUTH_TOKEN", "IVR_API_TOKEN", "IVR_ENV"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def test_db_upgrade_creates_the_call_log(data_dir: Path) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output == f"database at the latest schema: sqlite:///{data_dir / 'ivr.sqlite3'}\n"
    engine = create_engine(f"sqlite:///{data_dir / 'ivr.sqlite3'}")
    assert sorted(inspect(engine).get_table_names()) == [
        "alembic_version",
        "audit_log",
        "call_events",
        "callback_attempts",
        "callbacks",
        "calls",
        "dead_letters",
        "outbound_messages",
        "residents",
        "ticket_log",
        "ticket_number_blocks",
        "tickets",
        "units",
        "users",
        "wrap_ups",
    ]
    engine.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without its migration fails here, not on a live database."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": in_models})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_flows_command_validates(data_dir: Path) -> None:
    result = CliRunner().invoke(main, ["flows"])
    assert (result.exit_code, result.output) == (
        0,
        "flow main: 79 nodes, locales en-US, zh-CN: OK\n",
    )


def test_flows_explain_prints_the_decision(data_dir: Path) -> None:
    result = CliRunner().invoke(main, ["flows", "--explain", "家里水管爆了"])
    assert result.exit_code == 0
    assert result.output.splitlines()[:6] == [
        "menu main_menu (zh-CN) hears: 家里水管爆了",
        "  decision: emergency: option 1 (报告水管爆裂或严重漏水) -> emergency_advice",
        "  remembers: emg=leak, cat=water",
        "  acts at once",
        "  score: 1.00 via emergency",
        "  why: emergency phrase '水管爆'",
    ]
    denial = CliRunner().invoke(
        main, ["flows", "--explain", "不是，我住5栋", "--menu", "confirm_unit"]
    )
    assert "  decision: option 2 (no) -> not_my_unit" in denial.output.splitlines()
    odd = CliRunner().invoke(main, ["flows", "--explain", "hi", "--menu", "welcome"])
    assert odd.exit_code == 2
    assert "--menu" in odd.output


def test_development_secrets_are_made_once_and_kept(data_dir: Path) -> None:
    first = load_settings()
    second = load_settings()
    assert first.twilio_auth_token == second.twilio_auth_token
    assert len(first.api_token) == 32
    assert (data_dir / "api-token").stat().st_mode & 0o777 == 0o600


def test_production_refuses_to_start_without_its_secrets(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_ENV", "production")
    with pytest.raises(
        ConfigError, match="IVR_ENV=production needs TWILIO_AUTH_TOKEN, IVR_API_TOKEN, SECRET_KEY"
    ):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BUSINESS_HOURS", "9 to 5", "BUSINESS_HOURS must look like 07:00-21:00, not '9 to 5'"),
        ("BUSINESS_HOURS", "21:00-07:00", "BUSINESS_HOURS closes before it opens: '21:00-07:00'"),
        (
            "HOTLINE_TIMEZONE",
            "Mars/Olympus",
            "HOTLINE_TIMEZONE 'Mars/Olympus' is not a known time zone",
        ),
        ("IVR_TRUSTED_PROXIES", "one", "IVR_TRUSTED_PROXIES must be a whole number, not 'one'"),
    ],
)
def test_malformed_settings_stop_start_up_clearly(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as failure:
        load_settings()
    assert str(failure.value) == message
