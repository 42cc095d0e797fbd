"""`ivr users add` and `ivr users list`: staff accounts from the terminal."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import create_engine, inspect

from ivr.cli import STAFF_ROLES, main
from ivr.models import StaffRole
from tests.web_client import log_in

PASSWORD = "s3cret-enough"


@pytest.fixture
def cli_database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The commands work on the test database (SQLite, or PostgreSQL when configured)."""
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("IVR_ENV", raising=False)
    return database_url


def ivr(command: str, answers: str | None = None) -> Result:
    """Run `ivr COMMAND`, split as a shell would."""
    return CliRunner().invoke(main, shlex.split(command), input=answers)


def add(username: str, phone: str = "+8613900139000") -> Result:
    return ivr(f"users add {username} --role agent --password {PASSWORD} --phone '{phone}'")


def test_the_role_choices_are_the_model_roles() -> None:
    assert tuple(role.value for role in StaffRole) == STAFF_ROLES


def test_add_then_list(cli_database: str) -> None:
    added = ivr(
        f"users add Alice --role supervisor --password {PASSWORD}"
        " --phone '+86 139-0013-9000' --name 王丽"
    )
    assert (added.exit_code, added.output) == (
        0,
        "added supervisor alice (王丽, +8613900139000)\n",
    )
    add("bob")
    listed = ivr("users list")
    assert (listed.exit_code, listed.output.splitlines()) == (
        0,
        [
            "bob              agent      away      +8613900139000   bob",
            "alice            supervisor away      +8613900139000   王丽",
        ],
    )


def test_a_technician_is_added_with_trades(cli_database: str) -> None:
    added = ivr(
        f"users add laozhang --role technician --password {PASSWORD} --phone +8613911110001"
        " --name 张师傅 --trade water --trade Electric"
    )
    assert (added.exit_code, added.output) == (
        0,
        "added technician laozhang (张师傅, +8613911110001, trades electric water)\n",
    )
    assert ivr("users list").output == (
        "laozhang         technician away      +8613911110001   张师傅  trades electric water\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--role technician --trade flying", "unknown trade flying: one of water, electric"),
        ("--role agent --trade water", "only a technician has trades"),
    ],
)
def test_odd_trades_are_refused(cli_database: str, options: str, message: str) -> None:
    refused = ivr(f"users add x {options} --password {PASSWORD} --phone +8613911110001")
    assert refused.exit_code == 1
    assert message in refused.output
    assert ivr("users list").output.startswith("no users yet")


def test_list_with_nobody_yet(cli_database: str) -> None:
    assert ivr("users list").output == "no users yet: add one with `ivr users add`\n"


def test_a_taken_username_is_refused_whatever_its_case(cli_database: str) -> None:
    assert add("alice").exit_code == 0
    again = add("ALICE")
    assert (again.exit_code, again.output) == (
        1,
        "user not added: user 'alice' already exists\n",
    )


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("13900139000", "phone '13900139000' is not E.164"),
        ("+86 abc", "phone '+86abc' is not E.164"),
    ],
)
def test_a_phone_that_is_not_e164_is_refused(cli_database: str, phone: str, message: str) -> None:
    result = add("alice", phone=phone)
    assert result.exit_code == 1
    assert result.output.startswith(f"user not added: {message}")
    assert ivr("users list").output.startswith("no users yet")


def test_an_unknown_role_is_refused(cli_database: str) -> None:
    result = ivr(f"users add alice --role boss --password {PASSWORD} --phone +8613900139000")
    assert result.exit_code == 2
    assert "'boss' is not one of 'agent', 'supervisor', 'admin'" in result.output


def test_a_short_password_is_refused(cli_database: str) -> None:
    result = ivr("users add alice --role agent --password 1234567 --phone +8613900139000")
    assert (result.exit_code, result.output) == (
        1,
        "user not added: the password must have at least 8 characters\n",
    )


def test_the_password_is_asked_for_when_not_given(cli_database: str) -> None:
    answers = f"{PASSWORD}\n{PASSWORD}\n"  # typed twice: the prompt asks to confirm
    result = ivr("users add alice --role agent --phone +8613900139000", answers=answers)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_a_user_added_from_the_terminal_signs_in_on_the_web(
    cli_database: str, make_app: Callable[..., Flask]
) -> None:
    add("alice")
    client = make_app().test_client()
    assert log_in(client, "alice", PASSWORD).location == "/desk/"


def test_the_command_migrates_a_new_database_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("IVR_ENV", raising=False)
    assert add("alice").exit_code == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'ivr.sqlite3'}")
    assert "users" in inspect(engine).get_table_names()
    engine.dispose()
