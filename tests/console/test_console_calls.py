"""The console's call log: filters, search, keyset pages, CSV, masking, the call detail's
timeline, the audit log, and who may open what."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, update

from ivr.calllog.query import CallLogFilters, calls_in_batches
from ivr.calllog.write import record_events
from ivr.core.clock import FrozenClock
from ivr.core.events import CallEvent, EventKind
from ivr.models import (
    AttemptStatus,
    AuditAction,
    AuditEntry,
    Call,
    Callback,
    CallbackAttempt,
    CallbackStatus,
    CallCategory,
    CallOutcome,
    CallStatus,
    Disposition,
    MessageStatus,
    OutboundMessage,
    StaffRole,
    Ticket,
    User,
    WrapUp,
)
from ivr.services import services
from tests import console_seed
from tests.conftest import SHANGHAI
from tests.console_seed import add_rows
from tests.records import stored
from tests.web_client import link, log_in, rejected_filter, walk_pages

MakeUser = Callable[..., User]
DAY = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)


def sid(n: int) -> str:
    return f"CA{n:032d}"


# --- reading pages --------------------------------------------------------------------------


class TableReader(HTMLParser):
    """The text of each cell of one table, by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside = table_id, False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag in {"td", "th"}:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = self.in_body = False
        elif tag in {"td", "th"} and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    reader = TableReader(table_id)
    reader.feed(html)
    return reader.rows


def listed(html: str) -> list[str]:
    """The CallSids of the rows of the call log, top to bottom."""
    return re.findall(r'<tr id="call-([^"]+)"', html)


# --- seeding --------------------------------------------------------------------------------


def call(n: int, at: datetime, **fields: Any) -> Call:
    values: dict[str, Any] = {
        "call_sid": sid(n),
        "started_at": at,
        "caller_number": "+8613800138000",
        "called_number": "+8657112345678",
        "status": CallStatus.COMPLETED,
        "content": "",
        "duration_s": 65,
    }
    return Call(**(values | fields))


def ticket(n: int, call_sid: str, at: datetime, **fields: Any) -> Ticket:
    """A plumbing repair order that call `call_sid` opened at `at`."""
    values: dict[str, Any] = {
        "number": f"1120{n:03d}",
        "category": "plumbing",
        "sla_tier": "small",
        "call_sid": call_sid,
        "created_at": at,
    }
    return console_seed.ticket(**(values | fields))


@pytest.fixture
def register(app: Flask, make_user: MakeUser) -> dict[str, int]:
    """Seven calls over four days, each with something to filter on; returns the agents' ids."""
    alice = make_user("alice", display_name="王丽", phone="+8613900139111").id
    bob = make_user("bob", display_name="张强", phone="+8613900139222").id
    add_rows(
        app,
        call(
            1,
            DAY,
            category=CallCategory.REPAIR,
            outcome=CallOutcome.SELF_SERVED,
            unit="1栋1单元101室",
            caller_name="王小明",
            content="main_menu: said “我家厨房漏水了” -> repair",
        ),
        call(
            2,
            DAY + timedelta(days=1, hours=1),
            caller_number="+8613900139001",
            category=CallCategory.COMPLAINT,
            outcome=CallOutcome.AGENT_SERVED,
            unit="2栋1单元202室",
            agent_id=alice,
        ),
        call(
            3,
            DAY + timedelta(days=2, hours=2),
            caller_number="+8613700137002",
            category=CallCategory.INQUIRY,
            outcome=CallOutcome.ABANDONED,
            direction="outbound",
            content="100% sure_about_it",
        ),
        call(
            4,
            DAY + timedelta(days=2, hours=6),
            category=CallCategory.COMPLAINT,
            outcome=CallOutcome.TRANSFERRED,
            unit="1栋1单元101室",
            agent_id=bob,
        ),
        call(
            5,
            DAY + timedelta(days=3, hours=-1),
            caller_number="+8657188880000",
            category=CallCategory.REPAIR,
            outcome=CallOutcome.MESSAGE,
            unit="3栋2单元501室",
        ),
        call(6, DAY + timedelta(days=3), caller_number="", outcome=CallOutcome.FAILED),
        call(
            7,
            DAY + timedelta(days=3, minutes=30),
            caller_number="+8613500135000",
            category=CallCategory.REPAIR,
            outcome=CallOutcome.SELF_SERVED,
        ),
    )
    add_rows(
        app,
        ticket(1, sid(4), DAY + timedelta(days=2, hours=6), breached_at=DAY + timedelta(days=3)),
        ticket(2, sid(5), DAY + timedelta(days=3), transcription="The WATER heater is broken"),
        ticket(3, sid(7), DAY + timedelta(days=3, minutes=30)),
        WrapUp(
            call_sid=sid(2),
            agent_id=alice,
            disposition=Disposition.COMPLAINT,
            notes="住户投诉电梯噪音，已转工程部",
            created_at=DAY + timedelta(days=1, hours=1),
            updated_at=DAY + timedelta(days=1, hours=1),
        ),
    )
    return {"alice": alice, "bob": bob}


# --- the list -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [7, 6, 5, 4, 3, 2, 1]),
        ("from=2026-11-22&to=2026-11-22", [4, 3]),
        ("from=2026-11-23", [7, 6, 5]),
        ("to=2026-11-21", [2, 1]),
        ("category=complaint", [4, 2]),
        ("outcome=self_served", [7, 1]),
        ("direction=outbound", [3]),
        ("direction=inbound&category=inquiry", []),
        ("unit=1栋1单元101室", [4, 1]),
        ("unit=2单元", [5]),
        ("unit=1栋", [4, 1]),
        ("unit=101室", [4, 1]),
        ("unit=9栋9单元909室", []),
        ("caller=%2B8613800138000", [4, 1]),
        ("caller=13800138000", [4, 1]),
        ("caller=138-0013-8000", [4, 1]),
        ("caller=8000", [4, 1]),
        ("caller=0571+8888+0000", [5]),
        ("caller=0000", [5]),
        ("breached=true", [4]),
        ("breached=false&category=complaint", [2]),
        ("q=漏水", [1]),
        ("q=电梯噪音", [2]),
        ("q=water", [5]),
        ("q=100%25", [3]),
        ("q=sure_about", [3]),
        ("q=_", [3, 1]),
        ("q=nothing+like+this", []),
        ("category=repair&from=2026-11-23&q=water", [5]),
    ],
)
def test_each_filter_narrows_the_list(
    supervisor: FlaskClient, register: dict[str, int], query: str, expected: list[int]
) -> None:
    response = supervisor.get(f"/console/calls?{query}")
    assert response.status_code == 200
    assert listed(response.get_data(as_text=True)) == [sid(n) for n in expected]


def test_the_agent_filter_lists_staff_by_name(
    supervisor: FlaskClient, register: dict[str, int]
) -> None:
    html = supervisor.get(f"/console/calls?agent={register['alice']}").get_data(as_text=True)
    assert listed(html) == [sid(2)]
    assert f'<option value="{register["alice"]}" selected>王丽 (alice)</option>' in html
    empty = supervisor.get(f"/console/calls?agent={register['bob'] + 99}").get_data(as_text=True)
    assert listed(empty) == []
    assert 'id="no-calls"' in empty


def test_the_list_shows_masked_numbers_and_family_names_only(
    supervisor: FlaskClient, register: dict[str, int]
) -> None:
    html = supervisor.get("/console/calls?to=2026-11-20").get_data(as_text=True)
    assert table(html, "call-log") == [
        [
            "2026-11-20 09:00:00",
            "138****8000 王**",
            "1栋1单元101室",
            "报修 Repair",
            "自助完成 Self-served",
            "",
            "1:05",
            "呼入 Inbound",
        ]
    ]
    assert "13800138000" not in html
    assert "王小明" not in html


def test_breached_calls_are_flagged_and_agents_named(
    supervisor: FlaskClient, register: dict[str, int]
) -> None:
    html = supervisor.get("/console/calls?category=complaint").get_data(as_text=True)
    rows = table(html, "call-log")
    assert [row[4:6] for row in rows] == [
        ["转人工 Transferred 超时 SLA missed", "张强"],
        ["人工接听 Served by an agent", "王丽"],
    ]


def test_the_filter_form_keeps_what_was_chosen(
    supervisor: FlaskClient, register: dict[str, int]
) -> None:
    html = supervisor.get("/console/calls?category=repair&q=漏水&from=2026-11-20").get_data(
        as_text=True
    )
    assert '<option value="repair" selected>' in html
    assert 'id="filter-q" name="q" type="search" value="漏水"' in html
    assert 'id="filter-from" name="from" type="date" value="2026-11-20"' in html
    assert (
        link(html, "export-csv")
        == "/console/calls.csv?category=repair&q=%E6%BC%8F%E6%B0%B4&from=2026-11-20"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "'yesterday' is not a date (YYYY-MM-DD) or ISO datetime"),
        ("from=2026-11-22&to=2026-11-20", "'to' must be after 'from'"),
        ("category=gossip", "category must be one of: repair, complaint"),
        ("outcome=lost", "outcome must be one of:"),
        ("direction=sideways", "direction must be one of: inbound, outbound"),
        ("caller=abc", "caller must be a phone number or its last digits (at least 3)"),
        ("caller=12", "caller must be a phone number or its last digits (at least 3)"),
        ("agent=alice", "agent must be one of the staff listed"),
        ("breached=yes", "breached must be true or false"),
        ("q=" + "x" * 101, "the search may be at most 100 characters"),
        ("older=%25%25%25", "cursor is not one this API returned"),
        ("newer=bm9wZQ", "cursor is not one this API returned"),
    ],
)
def test_a_bad_filter_answers_400_with_the_form_and_the_reason(
    supervisor: FlaskClient, query: str, message: str
) -> None:
    response = supervisor.get(f"/console/calls?{query}")
    assert rejected_filter(response, "call-filters").startswith(message)
    assert supervisor.get(f"/console/calls.csv?{query}").status_code == 400


# --- pages ----------------------------------------------------------------------------------


@pytest.fixture
def many_calls(app: Flask) -> list[str]:
    """120 calls, newest first; pairs share a start time, so the id breaks the tie."""
    rows = [
        {
            "call_sid": sid(n),
            "started_at": DAY + timedelta(minutes=n // 2),
            "caller_number": f"+86139{n:08d}",
            "called_number": "+8657112345678",
            "status": "completed",
            "content": "",
            "locale": "zh-CN",
            "direction": "inbound",
        }
        for n in range(120)
    ]
    with app.app_context(), services().db.session() as session:
        session.execute(insert(Call), rows)
    return [sid(n) for n in reversed(range(120))]


def test_older_pages_cover_every_call_once_and_newer_pages_come_back(
    supervisor: FlaskClient, many_calls: list[str]
) -> None:
    pages = list(walk_pages(supervisor, "/console/calls", "older", listed))
    assert [len(page) for page in pages] == [50, 50, 20]
    assert [call_sid for page in pages for call_sid in page] == many_calls
    first = supervisor.get("/console/calls").get_data(as_text=True)
    assert link(first, "page-newer") is None
    assert link(first, "page-newest") is None
    last_url = link(
        supervisor.get(link(first, "page-older") or "").get_data(as_text=True), "page-older"
    )
    back = list(walk_pages(supervisor, last_url or "", "newer", listed))
    assert back == list(reversed(pages))


def test_pages_keep_the_filters(supervisor: FlaskClient, many_calls: list[str]) -> None:
    html = supervisor.get("/console/calls?from=2026-11-20&to=2026-11-20").get_data(as_text=True)
    older = link(html, "page-older") or ""
    assert older.startswith("/console/calls?from=2026-11-20&to=2026-11-20&older=")
    second = supervisor.get(older).get_data(as_text=True)
    assert listed(second) == many_calls[50:100]
    assert link(second, "page-newest") == "/console/calls?from=2026-11-20&to=2026-11-20"


def test_a_search_pages_through_every_place_it_looks_each_call_once(
    supervisor: FlaskClient, many_calls: list[str], app: Flask
) -> None:
    """Each place a search looks (what was said, agents' notes) is read a page at a time and
    merged: the pages still hold every match once, in order, both ways."""
    said = {sid(n) for n in range(120) if n % 2 == 0}
    noted = {sid(n) for n in range(120) if n % 3 == 0}  # some were also said: listed once
    with app.app_context(), services().db.session() as session:
        session.execute(
            update(Call).where(Call.call_sid.in_(said)).values(content="厨房燃气表异响")
        )
        session.execute(
            insert(WrapUp),
            [
                {
                    "call_sid": call_sid,
                    "disposition": Disposition.RESOLVED,
                    "notes": "上门检查燃气表异响",
                    "created_at": DAY,
                    "updated_at": DAY,
                }
                for call_sid in noted
            ],
        )
    matching = [call_sid for call_sid in many_calls if call_sid in said | noted]

    pages = list(walk_pages(supervisor, "/console/calls?q=燃气表异响", "older", listed))

    assert [len(page) for page in pages] == [50, 30]
    assert [call_sid for page in pages for call_sid in page] == matching
    last = link(supervisor.get("/console/calls?q=燃气表异响").get_data(as_text=True), "page-older")
    back = list(walk_pages(supervisor, last or "", "newer", listed))
    assert back == list(reversed(pages))


# --- CSV ------------------------------------------------------------------------------------


def test_the_csv_export_is_the_filtered_list_masked(
    supervisor: FlaskClient, register: dict[str, int], app: Flask, clock: FrozenClock
) -> None:
    response = supervisor.get("/console/calls.csv?category=complaint")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="calls-2026-11-23.csv"'
    assert response.is_streamed
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff来电时间,")
    assert list(csv.reader(io.StringIO(body.removeprefix("\ufeff")))) == [
        [
            "来电时间",
            "来电号码",
            "姓名",
            "房号",
            "方向",
            "分类",
            "结果",
            "处理人",
            "排队",
            "通话时长(秒)",
            "满意度",
            "工单超时",
            "CallSid",
        ],
        [
            "2026-11-22 15:00:00",
            "138****8000",
            "",
            "1栋1单元101室",
            "呼入",
            "投诉",
            "转人工",
            "张强",
            "",
            "65",
            "",
            "是",
            sid(4),
        ],
        [
            "2026-11-21 10:00:00",
            "139****9001",
            "",
            "2栋1单元202室",
            "呼入",
            "投诉",
            "人工接听",
            "王丽",
            "",
            "65",
            "",
            "",
            sid(2),
        ],
    ]
    [entry] = stored(app, AuditEntry)
    assert (entry.action, entry.username, entry.call_sid, entry.detail) == (
        AuditAction.EXPORT_CALLS,
        "zhuguan",
        None,
        "category=complaint",
    )
    assert entry.at == clock.now()


def test_the_export_reads_the_calls_a_batch_at_a_time(app: Flask, many_calls: list[str]) -> None:
    with app.app_context():
        batches = list(calls_in_batches(services().db, CallLogFilters(), batch=7))
    assert [len(batch) for batch in batches] == [7] * 17 + [1]
    assert [call.call_sid for batch in batches for call in batch] == many_calls


def test_the_csv_export_has_every_call(supervisor: FlaskClient, many_calls: list[str]) -> None:
    body = supervisor.get("/console/calls.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [row[-1] for row in rows[1:]] == many_calls


def test_spreadsheet_formulas_are_written_as_text(supervisor: FlaskClient, app: Flask) -> None:
    add_rows(app, call(1, DAY, caller_name="=HYPERLINK(1)", unit="-1栋"))
    body = supervisor.get("/console/calls.csv").get_data(as_text=True)
    row = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))[1]
    assert row[2:4] == ["'=**", "'-1栋"]


# --- one call -------------------------------------------------------------------------------


@pytest.fixture
def walked_call(app: Flask, make_user: MakeUser) -> str:
    """A repair call as the workers store it: events, a ticket, its SMS, a callback with an
    attempt, an agent's wrap-up; plus two earlier calls from the same number."""
    agent = make_user("alice", display_name="王丽", phone="+8613900139111").id
    start = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    call_sid = sid(42)

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    events = [
        CallEvent(
            call_sid,
            EventKind.CALL_STARTED,
            at(0),
            detail={"from": "+8613800138000", "to": "+8657112345678", "caller_name": "王小明"},
        ),
        CallEvent(call_sid, EventKind.GREETED, at(0), node="welcome", detail={"response_ms": 3.2}),
        CallEvent(
            call_sid,
            EventKind.SPEECH,
            at(12),
            seq=1,
            node="main_menu",
            detail={"text": "我家厨房漏水了", "confidence": 0.9, "goto": "repair"},
        ),
        CallEvent(
            call_sid,
            EventKind.ROUTED,
            at(12),
            seq=1,
            node="main_menu",
            detail={"category": "repair"},
        ),
        CallEvent(
            call_sid,
            EventKind.IDENTIFIED,
            at(14),
            seq=2,
            node="whose_home",
            detail={"known": True, "unit": "1栋1单元101室"},
        ),
        CallEvent(
            call_sid,
            EventKind.RECORDING,
            at(40),
            seq=5,
            node="repair_record",
            detail={
                "recording_url": "https://api.twilio.com/rec/RE1",
                "recording_sid": "RE1",
                "duration_s": 20,
            },
        ),
        CallEvent(
            call_sid,
            EventKind.TICKET_OPENED,
            at(61),
            seq=6,
            node="repair_ticket",
            detail={"kind": "repair", "number": "1123001"},
        ),
        CallEvent(
            call_sid,
            EventKind.HANDOFF,
            at(70),
            seq=7,
            node="general_queue",
            detail={"queue": "general"},
        ),
        CallEvent(
            call_sid,
            EventKind.QUEUE_RESULT,
            at(135),
            seq=8,
            node="general_queue",
            detail={"result": "bridged", "queue": "general", "waited_s": 65},
        ),
        CallEvent(
            call_sid,
            EventKind.STATUS,
            at(3725),
            node="status",
            detail={"status": "completed", "duration_s": 3725},
            key=f"{call_sid}:status",
        ),
    ]
    with app.app_context(), services().db.session() as session:
        record_events(session, events)
    add_rows(
        app,
        ticket(
            9, call_sid, at(62), number="1123001", recording_url="https://api.twilio.com/rec/RE1"
        ),
        call(40, start - timedelta(days=3), category=CallCategory.INQUIRY),
        call(41, start - timedelta(days=1), category=CallCategory.REPAIR),
        call(43, start, caller_number="+8613900139999"),
    )
    [opened] = stored(app, Ticket, call_sid=call_sid)
    callback = Callback(
        dedupe_key="message:x",
        call_sid=call_sid,
        phone="+8613800138000",
        reason="message left: no agent free",
        due_at=at(3600),
        status=CallbackStatus.DONE,
        created_at=at(150),
    )
    add_rows(
        app,
        OutboundMessage(
            dedupe_key=f"ticket:{opened.id}:confirmation",
            to_number="+8613800138000",
            body="您的报修已登记",
            purpose="confirmation",
            status=MessageStatus.SENT,
            created_at=at(63),
            sent_at=at(65),
        ),
        OutboundMessage(
            dedupe_key="ticket:999:confirmation",
            to_number="+8613800138000",
            body="another ticket's",
            purpose="confirmation",
            status=MessageStatus.SENT,
            created_at=at(63),
        ),
        callback,
        WrapUp(
            call_sid=call_sid,
            agent_id=agent,
            disposition=Disposition.REPAIR_ORDER,
            notes="已派维修工",
            created_at=at(3730),
            updated_at=at(3730),
        ),
    )
    add_rows(
        app,
        CallbackAttempt(
            callback_id=callback.id,
            number=1,
            idempotency_key="cb:1:1",
            status=AttemptStatus.CONNECTED,
            agent_id=agent,
            started_at=at(3900),
            outcome="resident reached",
        ),
    )
    return call_sid


def test_the_detail_shows_the_full_number_and_the_timeline(
    supervisor: FlaskClient, walked_call: str
) -> None:
    response = supervisor.get(f"/console/calls/{walked_call}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<dd id="call-caller">+8613800138000</dd>' in html
    assert '<dd id="call-name">王小明</dd>' in html
    assert '<dd id="call-unit">1栋1单元101室</dd>' in html
    assert '<dd id="call-duration">3725 s</dd>' in html
    assert table(html, "call-timeline") == [
        ["+00:00", "来电 Call started", "+8613800138000"],
        ["+00:00", "问候 Greeted", "[welcome] 3.2 ms"],
        ["+00:12", "说 Said", "[main_menu] “我家厨房漏水了” → repair"],
        ["+00:12", "分类 Routed", "[main_menu] repair"],
        ["+00:14", "识别住户 Caller identified", "[whose_home] 1栋1单元101室"],
        ["+00:40", "录音 Recording", "[repair_record] 20 s 录音 Recording"],
        ["+01:01", "开单 Ticket opened", "[repair_ticket] repair 1123001"],
        ["+01:05", "短信 SMS", "confirmation → +8613800138000（sent）"],
        ["+01:10", "进入排队 Joined the queue", "[general_queue] general"],
        ["+02:15", "离开排队 Left the queue", "[general_queue] general bridged，等待 waited 65 s"],
        ["+02:30", "回呼任务 Callback promised", "message left: no agent free（done）"],
        ["+1:02:05", "通话状态 Call status", "[status] completed，3725 s"],
        ["+1:02:10", "坐席小结 Wrap-up", "王丽：repair_order — 已派维修工"],
        ["+1:05:00", "第1次回呼 Callback attempt 1", "connected：resident reached"],
    ]
    assert 'href="https://api.twilio.com/rec/RE1"' in html
    assert '<li id="ticket-1123001">' in html


def test_the_detail_lists_the_residents_other_calls_masked(
    supervisor: FlaskClient, walked_call: str
) -> None:
    html = supervisor.get(f"/console/calls/{walked_call}").get_data(as_text=True)
    others = re.findall(r'<li><a id="other-([^"]+)" href="([^"]+)">([^<]+)</a>\s*([^<]+)', html)
    assert [(sid_, href, when, caller.split(" ·")[0]) for sid_, href, when, caller in others] == [
        (sid(41), f"/console/calls/{sid(41)}", "2026-11-22 09:00:00", "138****8000"),
        (sid(40), f"/console/calls/{sid(40)}", "2026-11-20 09:00:00", "138****8000"),
    ]


def test_each_detail_view_is_audited(
    supervisor: FlaskClient, walked_call: str, app: Flask, clock: FrozenClock
) -> None:
    supervisor.get(f"/console/calls/{walked_call}")
    clock.advance(minutes=5)
    supervisor.get(f"/console/calls/{walked_call}", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    entries = stored(app, AuditEntry)
    [user] = stored(app, User, username="zhuguan")
    assert [
        (e.action, e.user_id, e.username, e.call_sid, e.at, e.remote_addr) for e in entries
    ] == [
        (
            AuditAction.VIEW_CALL,
            user.id,
            "zhuguan",
            walked_call,
            clock.now() - timedelta(minutes=5),
            "127.0.0.1",
        ),
        (AuditAction.VIEW_CALL, user.id, "zhuguan", walked_call, clock.now(), "10.0.0.7"),
    ]


def test_an_unknown_call_is_a_404_page_and_not_audited(supervisor: FlaskClient, app: Flask) -> None:
    response = supervisor.get("/console/calls/CAnope")
    assert response.status_code == 404
    assert 'id="call-missing"' in response.get_data(as_text=True)
    assert stored(app, AuditEntry) == []


# --- the audit log and who may open what ----------------------------------------------------


def test_admins_read_the_audit_log_newest_first_in_pages(
    client: FlaskClient, make_user: MakeUser, app: Flask, clock: FrozenClock
) -> None:
    admin = make_user("boss", role=StaffRole.ADMIN)
    add_rows(
        app,
        *(
            AuditEntry(
                at=clock.now() - timedelta(minutes=n),
                user_id=admin.id,
                username="boss",
                action=AuditAction.VIEW_CALL,
                call_sid=sid(n),
                detail="",
                remote_addr="10.0.0.1",
            )
            for n in range(60)
        ),
    )
    log_in(client, "boss")
    html = client.get("/console/audit").get_data(as_text=True)
    rows = table(html, "audit-log")
    assert rows[0] == [
        "2026-11-23 10:00:00",
        "boss",
        "查看通话 Viewed a call",
        sid(0),
        "",
        "10.0.0.1",
    ]
    older = client.get(link(html, "page-older") or "").get_data(as_text=True)
    assert [row[3] for row in rows + table(older, "audit-log")] == [sid(n) for n in range(60)]
    assert link(older, "page-older") is None


CONSOLE_PAGES = ["/console/", "/console/calls", "/console/calls.csv", f"/console/calls/{sid(1)}"]


@pytest.mark.parametrize("path", [*CONSOLE_PAGES, "/console/audit"])
def test_agents_may_not_open_the_console(
    client: FlaskClient, make_user: MakeUser, app: Flask, path: str
) -> None:
    add_rows(app, call(1, DAY))
    make_user("agent1")
    log_in(client, "agent1")
    assert client.get(path).status_code == 403
    assert stored(app, AuditEntry) == []


@pytest.mark.parametrize("path", [*CONSOLE_PAGES, "/console/audit"])
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_only_admins_see_and_open_the_audit_log(
    supervisor: FlaskClient, client: FlaskClient
) -> None:
    html = supervisor.get("/console/calls").get_data(as_text=True)
    assert re.findall(r'<a id="(nav-[^"]+)"', html) == [
        "nav-home",
        "nav-board",
        "nav-call-log",
        "nav-kpis",
        "nav-reports",
        "nav-tickets",
        "nav-dead-letters",
    ]
    assert 'aria-current="page"' in html
    assert supervisor.get("/console/audit").status_code == 403


def test_admins_see_every_console_page_in_the_navigation(
    client: FlaskClient, make_user: MakeUser
) -> None:
    make_user("boss", role=StaffRole.ADMIN)
    log_in(client, "boss")
    html = client.get("/console/").get_data(as_text=True)
    assert re.findall(r'<a id="(nav-[^"]+)"', html) == [
        "nav-home",
        "nav-board",
        "nav-call-log",
        "nav-audit-log",
        "nav-kpis",
        "nav-reports",
        "nav-tickets",
        "nav-dead-letters",
    ]
