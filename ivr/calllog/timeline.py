"""One call, step by step, as a supervisor reads it: every IVR step with its offset from the
start, what the caller said or pressed, the queue and the agent, recordings, tickets, SMS,
callbacks and their attempts, and the agents' wrap-ups, in the order they happened."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.core.events import EventKind
from ivr.core.labels import RATING_WORDS
from ivr.core.labels import RATINGS as LABELLED_RATINGS
from ivr.models import Callback, CallbackAttempt, CallEventRow, OutboundMessage, WrapUp

Detail = Mapping[str, Any]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    label: str  # Chinese, the page's language
    label_en: str
    text: str = ""
    link: str | None = None  # a recording to listen to

    def offset_from(self, start: datetime) -> str:
        """+mm:ss from the start of the call (+h:mm:ss past an hour, - before the start)."""
        seconds = int((self.at - start).total_seconds())
        sign, seconds = ("-", -seconds) if seconds < 0 else ("+", seconds)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        clock = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
        return sign + clock


def _said(detail: Detail) -> str:
    text = f"“{detail.get('text') or ''}”"
    return f"{text} → {detail['goto']}" if detail.get("goto") else text


def _pressed(detail: Detail) -> str:
    if detail.get("field"):
        return f"{detail.get('field')}: {detail.get('digits')}"
    return f"{detail.get('digits')} → {detail.get('goto') or '无效 invalid'}"


def _left_queue(detail: Detail) -> str:
    waited = f"等待 waited {detail.get('waited_s', 0)} s"
    return f"{detail.get('queue') or ''} {detail.get('result') or ''}，{waited}"


def _status(detail: Detail) -> str:
    duration = detail.get("duration_s")
    return f"{detail.get('status')}" + (f"，{duration} s" if duration is not None else "")


def _identified(detail: Detail) -> str:
    return str(detail.get("unit") or "") if detail.get("known") else "未识别 not recognised"


def _ticket(detail: Detail) -> str:
    return f"{detail.get('kind')} {detail.get('number')}"


def _recorded(detail: Detail) -> str:
    return f"{detail.get('duration_s', 0)} s" if detail.get("duration_s") is not None else ""


def _greeting(detail: Detail) -> str:
    return f"{detail['response_ms']} ms" if detail.get("response_ms") is not None else ""


def _rating(detail: Detail) -> str:
    return RATINGS.get(str(detail.get("rating")), str(detail.get("rating") or ""))


def _field(name: str) -> Callable[[Detail], str]:
    return lambda detail: str(detail.get(name) or "")


RATINGS = {
    str(rating): f"{zh} {RATING_WORDS[rating]}" for rating, (zh, _) in LABELLED_RATINGS.items()
}

# kind → (label, English label, what the detail says)
EVENT_LABELS: dict[str, tuple[str, str, Callable[[Detail], str]]] = {
    EventKind.CALL_STARTED: ("来电", "Call started", _field("from")),
    EventKind.GREETED: ("问候", "Greeted", _greeting),
    EventKind.ENTERED: ("进入", "Entered", lambda _: ""),
    EventKind.CHOICE: ("按键", "Pressed", _pressed),
    EventKind.SPEECH: ("说", "Said", _said),
    EventKind.NO_INPUT: ("无输入", "No input", lambda _: ""),
    EventKind.INVALID_INPUT: ("输入无效", "Invalid input", lambda _: ""),
    EventKind.RETRIES_EXHAUSTED: ("重试用尽", "Retries used up", lambda _: ""),
    EventKind.ROUTED: ("分类", "Routed", _field("category")),
    EventKind.LANGUAGE: ("切换语言", "Language", _field("locale")),
    EventKind.HANDOFF: ("进入排队", "Joined the queue", _field("queue")),
    EventKind.QUEUE_RESULT: ("离开排队", "Left the queue", _left_queue),
    EventKind.VIRTUAL_HOLD: ("排队中要求回呼", "Asked for a callback", _left_queue),
    EventKind.MESSAGE_OFFERED: ("提示留言", "Offered a message", lambda _: ""),
    EventKind.MESSAGE_RECORDED: ("留言", "Message recorded", _recorded),
    EventKind.MESSAGE_EMPTY: ("未留言", "No message left", lambda _: ""),
    EventKind.CLOSED_BY_IVR: ("自助服务结束", "Closed by the IVR", lambda _: ""),
    EventKind.STATUS: ("通话状态", "Call status", _status),
    EventKind.FALLBACK: ("备用应答", "Fallback answer", _recorded),
    EventKind.IDENTIFIED: ("识别住户", "Caller identified", _identified),
    EventKind.UNIT_TYPED: ("输入房号", "Unit keyed in", _field("unit")),
    EventKind.DESCRIBED: ("描述问题", "Described", _said),
    EventKind.RECORDING: ("录音", "Recording", _recorded),
    EventKind.TRANSCRIPTION: ("录音转写", "Transcription", _field("text")),
    EventKind.SLOT_CHOSEN: ("预约上门", "Visit slot", _field("slot")),
    EventKind.TICKET_OPENED: ("开单", "Ticket opened", _ticket),
    EventKind.DIAL_RESULT: ("转接值班", "On-call dialled", _field("status")),
    EventKind.STATUS_TOLD: ("查询工单", "Ticket status told", _field("tickets")),
    EventKind.RATED: ("评价", "Rated", _rating),
    EventKind.DESK_BRIDGE: ("坐席接听", "Put through to an agent", _field("agent")),
    EventKind.DESK_DIALED: ("坐席响铃结果", "Agent's phone", _field("status")),
    EventKind.CALLBACK_LEG: ("回呼接通", "Callback leg answered", _field("leg")),
    EventKind.CALLBACK_AGENT: ("回呼坐席", "Callback agent", _field("answer")),
    EventKind.CALLBACK_DIALED: ("回呼拨打住户", "Resident dialled", _field("status")),
    EventKind.CALLBACK_STATUS: ("回呼状态", "Callback call status", _status),
    EventKind.SURVEY_RATED: ("回访评价", "Survey answer", _rating),
}


def event_entry(event: CallEventRow) -> TimelineEntry:
    detail = event.detail or {}
    label, label_en, describe = EVENT_LABELS.get(
        event.kind, (event.kind, event.kind.replace("_", " "), lambda _: "")
    )
    text = describe(detail)
    where = f"[{event.node}] " if event.node else ""
    return TimelineEntry(event.at, label, label_en, where + text, detail.get("recording_url"))


def message_entry(message: OutboundMessage) -> TimelineEntry:
    return TimelineEntry(
        message.sent_at or message.created_at,
        "短信",
        "SMS",
        f"{message.purpose} → {message.to_number}（{message.status.value}）",
    )


def callback_entries(task: Callback) -> list[TimelineEntry]:
    promised = TimelineEntry(
        task.created_at,
        "回呼任务",
        "Callback promised",
        f"{task.reason}（{task.status.value}）",
        task.recording_url,
    )
    return [promised, *(attempt_entry(attempt) for attempt in task.attempt_log)]


def attempt_entry(attempt: CallbackAttempt) -> TimelineEntry:
    outcome = f"：{attempt.outcome}" if attempt.outcome else ""
    return TimelineEntry(
        attempt.started_at,
        f"第{attempt.number}次回呼",
        f"Callback attempt {attempt.number}",
        f"{attempt.status.value}{outcome}",
    )


def wrap_up_entry(wrap_up: WrapUp, agents: Mapping[int, str]) -> TimelineEntry:
    agent = agents.get(wrap_up.agent_id, "") if wrap_up.agent_id is not None else ""
    return TimelineEntry(
        wrap_up.created_at,
        "坐席小结",
        "Wrap-up",
        f"{agent}：{wrap_up.disposition.value}" + (f" — {wrap_up.notes}" if wrap_up.notes else ""),
    )


def timeline(*entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """Every entry, in the order it happened."""
    return sorted((entry for group in entries for entry in group), key=lambda entry: entry.at)
