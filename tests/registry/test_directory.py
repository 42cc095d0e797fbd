"""The callers' directory: what webhooks know about a caller without running SQL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ivr import app as app_module
from ivr.app import refresh_directory
from ivr.flows import lookup as flow_lookup
from ivr.models import Ticket, TicketKind, TicketPriority, TicketStatus, Unit
from ivr.registry.directory import (
    Directory,
    DirectoryCache,
    DirectoryLookup,
    UnitEntry,
    keypad_digits,
    load_directory,
    start_directory_refresher,
)
from ivr.registry.residents import import_residents, load_demo_estate
from ivr.services import services
from ivr.store.db import Database

OWNER = "+8613800138000"  # the demo estate's resident with two units; `ivr call`'s caller ID
ENGLISH = "+8613800138005"
STRANGER = "+8613999999999"
REPORTED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

MakeTicket = Callable[..., Ticket]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    with database.session() as session:
        load_demo_estate(session)
    yield database
    database.dispose()


def unit_id(db: Database, building: str, entrance: str, room: str) -> int:
    with db.reader() as session:
        found = session.scalars(
            select(Unit.id).filter_by(building=building, entrance=entrance, room=room)
        ).one()
        return int(found)


@pytest.fixture
def make_ticket(db: Database) -> MakeTicket:
    """Stores a ticket; keyword arguments override the fields of an open repair order."""

    def make(number: str, **fields: Any) -> Ticket:
        values: dict[str, Any] = {
            "number": number,
            "number_year": 2026,
            "kind": TicketKind.REPAIR,
            "priority": TicketPriority.NORMAL,
            "category": "plumbing",
            "sla_tier": "small",
            "status": TicketStatus.OPEN,
            "caller_number": OWNER,
            "created_at": REPORTED,
            **fields,
        }
        with db.session() as session:
            ticket = Ticket(**values)
            session.add(ticket)
        return ticket

    return make


def snapshot(db: Database) -> Directory:
    with db.reader() as session:
        return load_directory(session)


def add_residents(db: Database, rows: str) -> None:
    with db.session() as session:
        import_residents(session, "building,unit,room,name,phone,language\n" + rows)


# --- callers --------------------------------------------------------------------------------


def test_a_phone_with_two_units_has_two_households(db: Database) -> None:
    homes = snapshot(db).households_for(OWNER)
    assert [(h.name, h.label, h.language) for h in homes] == [
        ("张伟", "1栋1单元101室", "zh-CN"),
        ("张伟", "3栋2单元501室", "zh-CN"),
    ]
    assert [(h.building, h.entrance, h.room) for h in homes] == [
        ("1", "1", "101"),
        ("3", "2", "501"),
    ]
    assert [h.unit_id for h in homes] == [
        unit_id(db, "1", "1", "101"),
        unit_id(db, "3", "2", "501"),
    ]
    assert len({h.resident_id for h in homes}) == 2


@pytest.mark.parametrize("dialled", ["+86 138 0013 8000", "+86-138-0013-8000", "008613800138000"])
def test_a_caller_is_found_however_the_number_is_written(db: Database, dialled: str) -> None:
    assert len(snapshot(db).households_for(dialled)) == 2


@pytest.mark.parametrize("caller", [STRANGER, "anonymous", "", "+266696687"])
def test_an_unknown_caller_has_no_households(db: Database, caller: str) -> None:
    directory = snapshot(db)
    assert (directory.households_for(caller), directory.language_for(caller)) == ((), None)


def test_a_caller_is_greeted_in_their_registered_language(db: Database) -> None:
    directory = snapshot(db)
    assert (directory.language_for(ENGLISH), directory.language_for(OWNER)) == ("en-US", "zh-CN")


def test_building_without_entrances_is_labelled_without_one(db: Database) -> None:
    assert [h.label for h in snapshot(db).households_for("+8613800138006")] == ["5栋1601室"]


# --- units typed or said ------------------------------------------------------------------


def test_a_unit_is_found_by_building_entrance_and_room(db: Database) -> None:
    directory = snapshot(db)
    found = directory.unit_at("3", "2", "501")
    assert found is not None
    assert (found.unit_id, found.label) == (unit_id(db, "3", "2", "501"), "3栋2单元501室")
    assert directory.unit_at("3", "1", "501") is None
    assert directory.unit_at("5", "", "1601") == directory.units_at("5", "1601")[0]


def test_a_room_number_may_exist_in_several_entrances(db: Database) -> None:
    add_residents(db, "1,2,101,孙丽,+8613800138010,zh-CN\n")
    assert [u.label for u in snapshot(db).units_at("1", "101")] == [
        "1栋1单元101室",
        "1栋2单元101室",
    ]


def test_letters_in_a_unit_are_matched_whatever_their_case(db: Database) -> None:
    add_residents(db, "A3,B,12F,孙丽,+8613800138010,zh-CN\n")
    found = snapshot(db).unit_at(" a3 ", "b", "12f")
    assert found is not None
    assert found.label == "A3栋B单元12F室"


@pytest.mark.parametrize(
    ("building", "room", "entrance", "labels"),
    [
        ("3", "501", None, ["3栋2单元501室"]),
        ("3", "501", "2", ["3栋2单元501室"]),
        ("3", "501", "1", []),
        ("1", "101", None, ["1栋1单元101室", "1栋2单元101室"]),
        ("1", "101", "2", ["1栋2单元101室"]),
        ("7", "301", None, ["A7栋B1单元301室", "B7栋301室"]),  # letters cannot be typed
        ("7", "301", "1", ["A7栋B1单元301室"]),
        ("7", "301", "", ["B7栋301室"]),
        ("9", "101", None, []),
        ("3#", "501#", None, ["3栋2单元501室"]),
    ],
)
def test_a_unit_typed_on_the_keypad_matches_on_digits(
    db: Database, building: str, room: str, entrance: str | None, labels: list[str]
) -> None:
    add_residents(
        db,
        "1,2,101,孙丽,+8613800138010,zh-CN\n"
        "A7,B1,301,周杰,+8613800138011,zh-CN\n"
        "B7,,301,吴敏,+8613800138012,zh-CN\n",
    )
    found = snapshot(db).units_keyed_in(building, room, entrance)
    assert [u.label for u in found] == labels


def test_keypad_digits_drop_everything_a_keypad_cannot_send() -> None:
    assert [keypad_digits(text) for text in ["A7", "12F", "B", "3#", "1*2"]] == [
        "7",
        "12",
        "",
        "3",
        "12",
    ]


# --- open tickets -------------------------------------------------------------------------


def test_open_tickets_are_found_by_caller_newest_first(
    db: Database, make_ticket: MakeTicket
) -> None:
    unit = unit_id(db, "3", "2", "501")
    make_ticket(
        "1123001",
        unit_id=unit,
        appointment_start=REPORTED + timedelta(hours=6),
        appointment_end=REPORTED + timedelta(hours=8),
    )
    make_ticket(
        "1123002",
        kind=TicketKind.COMPLAINT,
        status=TicketStatus.DISPATCHED,
        unit_text="3栋2单元501",
        caller_number="+86 138 0013 8000",
        created_at=REPORTED + timedelta(minutes=5),
    )
    make_ticket("1123003", status=TicketStatus.ON_SITE, caller_number=ENGLISH)
    tickets = snapshot(db).open_tickets_for(OWNER)
    assert [(t.number, t.kind, t.status, t.unit_label, t.created_at) for t in tickets] == [
        (
            "1123002",
            TicketKind.COMPLAINT,
            TicketStatus.DISPATCHED,
            "3栋2单元501",
            REPORTED + timedelta(minutes=5),
        ),
        ("1123001", TicketKind.REPAIR, TicketStatus.OPEN, "3栋2单元501室", REPORTED),
    ]
    assert (tickets[1].appointment_start, tickets[1].appointment_end) == (
        REPORTED + timedelta(hours=6),
        REPORTED + timedelta(hours=8),
    )
    assert (tickets[0].appointment_start, tickets[0].appointment_end) == (None, None)


def test_an_open_ticket_is_found_by_its_number(db: Database, make_ticket: MakeTicket) -> None:
    make_ticket("1123001", unit_id=unit_id(db, "1", "1", "101"))
    make_ticket("BX-0007", caller_number="")
    directory = snapshot(db)
    found = directory.open_ticket(" 1123001 ")
    assert found is not None
    assert (found.number, found.unit_label, found.caller_number) == (
        "1123001",
        "1栋1单元101室",
        OWNER,
    )
    assert directory.open_ticket("1123009") is None
    assert [t.number for t in directory.open_tickets_keyed_in("0007#")] == ["BX-0007"]
    assert directory.open_tickets_keyed_in("#") == ()
    assert directory.open_tickets_for("") == ()


@pytest.mark.parametrize("status", [TicketStatus.DONE, TicketStatus.CLOSED])
def test_finished_tickets_are_not_in_the_directory(
    db: Database, make_ticket: MakeTicket, status: TicketStatus
) -> None:
    make_ticket("1123001", status=status)
    directory = snapshot(db)
    assert (directory.open_tickets_for(OWNER), directory.open_ticket("1123001")) == ((), None)


# --- the engine's view --------------------------------------------------------------------


def test_the_engine_lookup_answers_from_the_directory(
    db: Database, make_ticket: MakeTicket
) -> None:
    make_ticket("1123001", status=TicketStatus.DISPATCHED, appointment_start=REPORTED)
    add_residents(db, "1,2,101,孙丽,+8613800138010,zh-CN\n")
    cache = DirectoryCache()
    assert cache.refresh(db)
    lookup = cache.lookup()
    homes = lookup.households(ENGLISH)
    assert homes == (
        flow_lookup.Household(
            unit_id=unit_id(db, "3", "1", "802"),
            label="3栋1单元802室",
            resident_id=homes[0].resident_id,
            language="en-US",
        ),
    )
    assert lookup.unit_by_keypad("3", "501") == flow_lookup.Household(
        unit_id=unit_id(db, "3", "2", "501"), label="3栋2单元501室"
    )
    assert lookup.unit_by_keypad("1", "101") is None  # two entrances have a 101: ask a person
    assert lookup.unit_by_keypad("9", "101") is None
    expected = flow_lookup.OpenTicket("1123001", "repair", "dispatched", REPORTED)
    assert (list(lookup.open_tickets(OWNER)), lookup.ticket("1123001")) == ([expected], expected)
    assert (lookup.households(STRANGER), lookup.ticket("1")) == ((), None)


def test_the_engine_lookup_of_an_empty_directory_knows_nobody() -> None:
    lookup = DirectoryLookup(Directory.empty())
    assert (lookup.households(OWNER), lookup.open_tickets(OWNER), lookup.ticket("1")) == (
        (),
        (),
        None,
    )


# --- refreshing ---------------------------------------------------------------------------


def test_a_refresh_picks_up_new_residents_and_tickets(
    db: Database, make_ticket: MakeTicket
) -> None:
    cache = DirectoryCache()
    assert cache.refresh(db)
    before = cache.current
    add_residents(db, "8,1,101,孙丽,+8613800138010,zh-CN\n")
    make_ticket("1123001")
    assert cache.current.households_for("+8613800138010") == ()
    assert cache.refresh(db)
    assert [h.label for h in cache.current.households_for("+8613800138010")] == ["8栋1单元101室"]
    assert [t.number for t in cache.current.open_tickets_for(OWNER)] == ["1123001"]
    assert before.households_for("+8613800138010") == ()  # a snapshot never changes


def test_a_failed_refresh_keeps_the_old_snapshot(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DirectoryCache()
    assert cache.refresh(db)
    known = cache.current
    unreachable = Database(f"sqlite:///{tmp_path / 'no-such-folder' / 'ivr.sqlite3'}")
    with caplog.at_level(logging.WARNING, logger="ivr.registry.directory"):
        assert not cache.refresh(unreachable)
    unreachable.dispose()
    assert cache.current is known
    assert len(cache.current.households_for(OWNER)) == 2
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "caller directory not refreshed, keeping the old one"
    ]


def test_a_refresh_that_breaks_unexpectedly_also_keeps_the_old_snapshot(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DirectoryCache()
    assert cache.refresh(db)
    known = cache.current

    def broken(session: Any) -> Directory:
        raise LookupError("'reopened' is not among the defined enum values")

    monkeypatch.setattr("ivr.registry.directory.load_directory", broken)
    with caplog.at_level(logging.ERROR, logger="ivr.registry.directory"):
        assert not cache.refresh(db)
    assert cache.current is known
    assert [r.message for r in caplog.records] == [
        "caller directory not refreshed, keeping the old one"
    ]


def test_the_refresher_thread_keeps_the_snapshot_fresh(db: Database) -> None:
    cache = DirectoryCache()
    stop = threading.Event()
    thread = start_directory_refresher(cache, db, interval_s=0.01, stop=stop)
    try:
        assert (thread.daemon, thread.name) == (True, "directory-refresher")
        add_residents(db, "8,1,101,孙丽,+8613800138010,zh-CN\n")
        deadline = time.monotonic() + 10
        while not cache.current.households_for("+8613800138010") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [h.name for h in cache.current.households_for("+8613800138010")] == ["孙丽"]
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_an_empty_directory_knows_no_one() -> None:
    directory = Directory.empty()
    assert (
        directory.households_for(OWNER),
        directory.units_at("1", "101"),
        directory.units_keyed_in("1", "101"),
        directory.open_tickets_for(OWNER),
        directory.summary(),
    ) == ((), (), (), (), "0 residents, 0 units, 0 open tickets")


def test_a_directory_is_immutable(db: Database) -> None:
    directory = snapshot(db)
    with pytest.raises(TypeError):
        directory.households_by_phone[STRANGER] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        directory.units_by_place = {}  # type: ignore[misc]
    assert directory.summary() == "8 residents, 7 units, 0 open tickets"
    assert isinstance(directory.units_at("3", "501")[0], UnitEntry)


# --- in the app ---------------------------------------------------------------------------


def test_the_app_loads_the_directory_at_start_up(db: Database, app: Flask) -> None:
    with app.app_context():
        assert len(services().directory.current.households_for(OWNER)) == 2


def test_refresh_directory_reloads_the_apps_snapshot(db: Database, app: Flask) -> None:
    add_residents(db, "8,1,101,孙丽,+8613800138010,zh-CN\n")
    with app.app_context():
        assert services().directory.current.households_for("+8613800138010") == ()
        assert len(refresh_directory().households_for("+8613800138010")) == 1
    assert refresh_directory(app) is services_directory(app)


def services_directory(app: Flask) -> Directory:
    with app.app_context():
        return services().directory.current


@pytest.mark.parametrize(
    "broken_url",
    [
        "sqlite:///{tmp}/empty.sqlite3",  # never migrated: no tables
        "postgresql+psycopg://nobody@127.0.0.1:1/ivr?connect_timeout=2",  # nothing listens
    ],
    ids=["no-tables", "unreachable"],
)
def test_the_app_starts_with_an_empty_directory_without_its_database(
    make_app: Callable[..., Flask], broken_url: str, tmp_path: Path
) -> None:
    app = make_app(database_url=broken_url.format(tmp=tmp_path))
    assert services_directory(app).summary() == "0 residents, 0 units, 0 open tickets"
    assert app.test_client().get("/healthz").status_code == 200


def test_only_the_web_process_starts_the_refresher(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(app_module, "start_directory_refresher", lambda *args: started.append(args))
    monkeypatch.setattr(app_module, "start_spool_replayer", lambda *args: None)
    make_app()
    assert started == []
    web = make_app(replay_spool=True)
    with web.app_context():
        assert started == [(services().directory, services().db)]
