"""The agent desk in a real headless chromium: callers appear while the page is open, most
urgent first, with what they said; their waiting time ticks; a take puts the caller through
and ends in a wrap-up with a repair order; a message is claimed and called back; a
colleague who clicks a moment too late is told who took the caller."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import update

from ivr.core.clock import FrozenClock
from ivr.models import Callback, Ticket, User, WrapUp
from ivr.outbound.telephony import RecordingHttpClient
from ivr.queues import DISPATCH_JOB, OUTBOUND_QUEUE
from ivr.services import services
from tests.browser.conftest import (
    MakeUser,
    PageLog,
    Screenshot,
    SignIn,
    fill_login,
    watched_page,
)
from tests.call_walk import Walk
from tests.desk.test_desk import (
    LI,
    REST_CALLS,
    WANG_BRIDGE,
    WANG_PHONE,
    ZHAO_PHONE,
    add_residents,
    bridge_path,
    dial_action,
    waits_in_general_queue,
)
from tests.records import stored
from tests.twilio_fake import TwilioFake, call_params

RunJobs = Callable[[], int]

# live.js fetches a fresh list every 3 s: a change shows within one round, given some slack.
NEXT_ROUND_MS = 10_000
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "1" * 32
TRANSCRIPTION = "请尽快回电，关于停车位的事。"
GENERAL_RESULT = "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0"


@pytest.fixture(autouse=True)
def no_console_errors(page_log: PageLog) -> Iterator[None]:
    """Every desk state is reached without a script error or a failed request."""
    yield
    assert page_log.console_errors == []


@pytest.fixture
def wang(sign_in: SignIn) -> User:
    """王丽, an agent with a phone to ring, signed in at her desk."""
    return sign_in(username="wangli", display_name="王丽", phone=WANG_PHONE)


@pytest.fixture
def colleague_page(
    browser: Browser, live_server: str, page_log: PageLog, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A second agent's browser: a context (and sign-in) of its own, watched like `page`."""
    yield from watched_page(browser, live_server, page_log, request.node, "colleague")


def waiting_rows(page: Page) -> Locator:
    return page.locator("#waiting-list li[data-call-sid]")


def waiting_row(page: Page, call_sid: str) -> Locator:
    return page.locator(f'#waiting-list li[data-call-sid="{call_sid}"]')


def callback_item(page: Page, section: str, callback_id: int) -> Locator:
    return page.locator(f'#{section} [data-callback-id="{callback_id}"]')


def notice(page: Page) -> Locator:
    """What the desk says after a button was pressed (a flashed message)."""
    return page.locator("main p.notice")


def refusal(page: Page) -> Locator:
    """Why the desk refused what a button asked for (a flashed error)."""
    return page.locator('main > p.error[role="alert"]')


def mark_the_page(page: Page) -> None:
    """Leave a mark a reload would wipe, to prove that what changes arrived without one."""
    page.evaluate("window.deskNotReloaded = true")


def still_the_same_page(page: Page) -> bool:
    return bool(page.evaluate("window.deskNotReloaded === true"))


# --- the live list ---------------------------------------------------------------------------


def test_callers_appear_without_a_reload_with_context_the_most_urgent_first(
    app: Flask,
    page: Page,
    wang: User,
    twilio: TwilioFake,
    clock: FrozenClock,
    run_jobs: RunJobs,
    page_log: PageLog,
    live_server: str,
    screenshot: Screenshot,
) -> None:
    add_residents(app)
    expect(page.locator("#nobody-waiting")).to_be_visible()
    mark_the_page(page)
    screenshot("nobody-waiting")

    Walk(twilio, "CA101", caller=LI).start().press("3").press("0")  # an inquiry, first
    clock.advance(seconds=30)
    Walk(twilio, "CA102").start().press("1").press("1").press("1")  # a burst pipe, later
    run_jobs()

    rows = waiting_rows(page)
    expect(rows).to_have_count(2, timeout=NEXT_ROUND_MS)
    expect(rows.nth(0)).to_have_attribute("data-call-sid", "CA102")
    expect(rows.nth(1)).to_have_attribute("data-call-sid", "CA101")
    emergency, inquiry = rows.nth(0), rows.nth(1)
    expect(emergency).to_have_attribute("data-purpose", "emergency")
    expect(emergency.locator(".purpose")).to_have_text("紧急报修 Emergency")
    expect(emergency.locator(".caller-name")).to_have_text("张伟")
    expect(emergency.locator(".unit")).to_have_text("1栋1单元101室")
    expect(emergency.locator(".said")).to_contain_text("repair_menu：按键 “1”")
    expect(inquiry.locator(".purpose")).to_have_text("咨询 Inquiry")
    expect(inquiry.locator(".caller-name")).to_have_text("李娜")
    expect(inquiry.locator(".unit")).to_have_text("2栋3单元502室")
    expect(inquiry.locator(".said")).to_contain_text("main_menu：按键 “3”")
    expect(page.locator("#waiting-count")).to_have_text("2")
    expect(page.locator("#nobody-waiting")).to_have_count(0)
    assert still_the_same_page(page)
    assert f"{live_server}/desk/live" in page_log.requests  # what brought them: the polling
    screenshot("two-waiting")


def test_the_time_waited_ticks_in_the_browser_while_the_server_clock_stands_still(
    page: Page, sign_in: SignIn, twilio: TwilioFake, clock: FrozenClock, run_jobs: RunJobs
) -> None:
    waits_in_general_queue(twilio, "CA201")
    run_jobs()
    clock.advance(seconds=65)
    sign_in(username="wangli", display_name="王丽", phone=WANG_PHONE)

    waited = waiting_row(page, "CA201").locator("time.waited-time")
    expect(waited).to_have_attribute("data-since", "2026-11-23T02:00:00+00:00")

    # Each fresh list starts again from the server's 1:05; in between, the page counts on.
    expect(waited).to_have_text(re.compile(r"^1:0[6-9]$"), timeout=NEXT_ROUND_MS)
    server_says = page.request.get("/desk/live").text()
    assert '<time class="waited-time" data-since="2026-11-23T02:00:00+00:00">1:05</time>' in (
        server_says
    )


# --- taking a caller, then the wrap-up -------------------------------------------------------


def test_taking_a_caller_puts_them_through_and_ends_in_a_wrap_up_with_a_repair_order(
    app: Flask,
    page: Page,
    wang: User,
    twilio: TwilioFake,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
    screenshot: Screenshot,
) -> None:
    add_residents(app)
    waits_in_general_queue(twilio, "CA301")
    run_jobs()
    row = waiting_row(page, "CA301")
    expect(row).to_be_visible(timeout=NEXT_ROUND_MS)

    row.get_by_role("button", name="接听").click()

    my_take = page.locator("#my-take")
    expect(my_take).to_have_attribute("data-state", "connecting")
    expect(notice(page)).to_contain_text(f"正在为您接通，请接听您的电话 {WANG_PHONE}")
    expect(row).to_have_attribute("data-taken-by", "王丽")
    expect(row.get_by_role("button", name="接听")).to_have_count(0)
    [redirect] = twilio_rest.requests
    assert (redirect.method, redirect.url) == ("POST", f"{REST_CALLS}/CA301.json")
    bridge = f"https://hotline.example.com/voice/desk/bridge?{WANG_BRIDGE.format(agent=wang.id)}"
    assert redirect.data == {"Url": bridge, "Method": "POST"}
    screenshot("connecting")

    # Twilio follows the redirect: the bridge rings 王丽, who answers and talks to 张伟.
    bridged = twilio.follow(bridge_path(twilio_rest), "CA301")
    run_jobs()
    expect(my_take).to_have_attribute("data-state", "ringing", timeout=NEXT_ROUND_MS)
    expect(waiting_rows(page)).to_have_count(0)
    twilio.follow(dial_action(bridged), "CA301", DialCallStatus="completed", DialCallDuration="95")
    twilio.post("/voice/status", call_params("CA301", CallStatus="completed", CallDuration="120"))
    run_jobs()
    expect(my_take).to_have_attribute("data-state", "answered", timeout=NEXT_ROUND_MS)
    screenshot("answered")

    my_take.get_by_role("link", name="填写处理结果").click()
    expect(page.locator("#wrap-up-caller")).to_have_text("张伟 · +8613800138000")
    page.locator('input[name="disposition"][value="repair_order"]').check()
    page.get_by_label("备注").fill("厨房水管漏水，已约今天下午上门")
    page.locator('input[name="ticket_action"][value="create"]').check()
    page.locator("#ticket_kind").select_option("repair")
    page.locator("#category").select_option("water")
    page.get_by_label("问题描述").fill("厨房水管漏水")
    screenshot("wrap-up-form")
    page.get_by_role("button", name="保存").click()

    expect(page).to_have_url("/desk/")
    expect(notice(page)).to_have_text("处理结果已保存 · Wrap-up saved")
    expect(page.locator("#my-take")).to_have_count(0)
    expect(page.locator('#my-call-list tr[data-call-sid="CA301"]')).to_have_attribute(
        "data-disposition", "repair_order"
    )
    [ticket] = stored(app, Ticket)
    assert (ticket.number, ticket.kind, ticket.category, ticket.description) == (
        "1123001",
        "repair",
        "water",
        "厨房水管漏水",
    )
    [wrap_up] = stored(app, WrapUp)
    assert (wrap_up.call_sid, wrap_up.agent_id, wrap_up.ticket_id) == ("CA301", wang.id, ticket.id)
    assert wrap_up.notes == "厨房水管漏水，已约今天下午上门"
    screenshot("wrapped-up")


def test_a_colleague_who_clicks_a_moment_later_is_told_who_took_the_caller(
    page: Page,
    colleague_page: Page,
    wang: User,
    make_user: MakeUser,
    twilio: TwilioFake,
    clock: FrozenClock,
    run_jobs: RunJobs,
    twilio_rest: RecordingHttpClient,
) -> None:
    make_user("zhaoqiang", display_name="赵强", phone=ZHAO_PHONE)
    waits_in_general_queue(twilio, "CA501")
    run_jobs()
    # 赵强's page stops between two refreshes, so it still offers the caller when 王丽's
    # take lands, as when both click within the same three seconds.
    colleague_page.clock.install(time=clock.now())
    colleague_page.clock.pause_at(clock.now() + timedelta(seconds=1))
    fill_login(colleague_page, "zhaoqiang")
    refreshes: list[str] = []
    colleague_page.on("request", lambda asked: refreshes.append(asked.url))
    expect(waiting_row(colleague_page, "CA501")).to_be_visible()
    expect(waiting_row(page, "CA501")).to_be_visible(timeout=NEXT_ROUND_MS)

    waiting_row(page, "CA501").get_by_role("button", name="接听").click()
    expect(page.locator("#my-take")).to_have_attribute("data-state", "connecting")
    waiting_row(colleague_page, "CA501").get_by_role("button", name="接听").click()

    expect(refusal(colleague_page)).to_have_text("该来电已由王丽接起。 · Already taken by 王丽.")
    expect(colleague_page).to_have_url("/desk/")  # redirected: a reload takes nobody
    row = waiting_row(colleague_page, "CA501")
    expect(row).to_have_attribute("data-taken-by", "王丽")
    expect(row.locator(".taken")).to_contain_text("已由 王丽 接起")
    expect(row.get_by_role("button", name="接听")).to_have_count(0)
    expect(colleague_page.locator("#my-take")).to_have_count(0)
    assert len(twilio_rest.requests) == 1  # 王丽's phone rings; nobody else's
    assert [url for url in refreshes if url.endswith("/desk/live")] == []  # it stood still

    colleague_page.reload()
    expect(refusal(colleague_page)).to_have_count(0)  # said once
    expect(waiting_row(colleague_page, "CA501")).to_have_attribute("data-taken-by", "王丽")
    assert len(twilio_rest.requests) == 1


# --- messages ---------------------------------------------------------------------------------


def test_a_message_appears_is_claimed_and_called_back(
    app: Flask,
    page: Page,
    wang: User,
    twilio: TwilioFake,
    run_jobs: RunJobs,
    redis: Redis,
    screenshot: Screenshot,
) -> None:
    add_residents(app)
    mark_the_page(page)
    caller = Walk(twilio, "CA401").start().press("0")
    caller.post(GENERAL_RESULT, QueueResult="leave", QueueTime="120")
    caller.record()
    caller.hang_up()
    run_jobs()
    with app.app_context(), services().db.session() as session:
        session.execute(update(Callback).values(transcription=TRANSCRIPTION))
    [message] = stored(app, Callback)

    item = callback_item(page, "voicemail-list", message.id)
    expect(item.locator(".transcription")).to_have_text(TRANSCRIPTION, timeout=NEXT_ROUND_MS)
    expect(item.locator("a.recording")).to_have_attribute("href", RECORDING)
    expect(item.locator(".caller-name")).to_have_text("张伟")
    expect(item.locator(".unit")).to_have_text("1栋1单元101室")
    expect(item.locator(".number")).to_have_text("+8613800138000")
    expect(item.locator(".reason")).to_have_text("留言：坐席繁忙 Message left: no agent free")
    expect(item.locator(".reason [lang=en]")).to_have_text("Message left: no agent free")
    assert still_the_same_page(page)
    screenshot("message")

    item.get_by_role("button", name="认领").click()

    expect(notice(page)).to_have_text(
        "留言已认领，请尽快回电。 · Message claimed: it is yours to call back."
    )
    expect(page.locator("#voicemail-list [data-callback-id]")).to_have_count(0)
    mine = callback_item(page, "my-callback-list", message.id)
    expect(mine).to_be_visible()
    [claimed] = stored(app, Callback)
    assert claimed.owner_id == wang.id
    screenshot("claimed")

    mine.get_by_role("button", name="立即回电").click()

    expect(notice(page)).to_have_text(
        "即将先拨打您的电话，再接通住户。 · Your phone rings first, then the resident's."
    )
    job = Job.fetch(f"callback-now-{message.id}", connection=redis)
    assert (job.origin, job.func_name, job.args) == (OUTBOUND_QUEUE, DISPATCH_JOB, (message.id,))
    assert job.get_status() == JobStatus.QUEUED
