"""What staff pages call things, Chinese first, English after: one wording for the desk,
the console, the CSV and the monthly report (categories and outcomes live in ivr.core.terms)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache

from ivr.core.terms import CATEGORY_LABELS, OUTCOME_LABELS
from ivr.core.terms import Label as Label  # the pages type their labels with it

PURPOSES: Mapping[str, Label] = {
    "emergency": ("紧急报修", "Emergency"),
    "complaint": ("投诉", "Complaint"),
    "repair": ("报修", "Repair"),
    "inquiry": ("咨询", "Inquiry"),
    "general": ("人工服务", "General"),
}
CATEGORIES: Mapping[str, Label] = {str(key): label for key, label in CATEGORY_LABELS.items()}
OUTCOMES: Mapping[str, Label] = {str(key): label for key, label in OUTCOME_LABELS.items()}
RATINGS: Mapping[int, Label] = {  # R9: the caller's rating, 1 to 3
    1: ("满意", "Satisfied"),
    2: ("一般", "Average"),
    3: ("不满意", "Dissatisfied"),
}
# How the records write a rating in their English lines (a ticket's log, a callback's outcome).
RATING_WORDS: Mapping[int, str] = {rating: en.lower() for rating, (_, en) in RATINGS.items()}
DISPOSITIONS: Mapping[str, Label] = {
    "resolved": ("已解决", "Resolved"),
    "repair_order": ("生成报修单", "Repair order"),
    "complaint": ("登记投诉", "Complaint"),
    "callback_needed": ("需要回电", "Callback needed"),
    "message_only": ("仅留言记录", "Message only"),
}
TICKET_KINDS: Mapping[str, Label] = {
    "repair": ("报修单", "Repair order"),
    "complaint": ("投诉单", "Complaint"),
}
TICKET_STATUSES: Mapping[str, Label] = {
    "open": ("待处理", "Open"),
    "acknowledged": ("已确认", "Acknowledged"),
    "dispatched": ("已派工", "Dispatched"),
    "on_site": ("已到场", "On site"),
    "investigated": ("已核实", "Investigated"),
    "done": ("已完成", "Done"),
    "answered": ("已答复", "Answered"),
    "closed": ("已归档", "Closed"),
    "cancelled": ("已取消", "Cancelled"),
}
# The step a person takes to reach a status, as its button says it.
TICKET_STEPS: Mapping[str, Label] = {
    "acknowledged": ("确认受理", "Acknowledge"),
    "dispatched": ("派工", "Dispatch"),
    "reassign": ("改派", "Reassign"),
    "on_site": ("已到场", "Arrived"),
    "investigated": ("调查核实", "Investigated"),
    "done": ("完成维修", "Done"),
    "answered": ("答复住户", "Answered"),
    "closed": ("归档", "Close"),
    "cancelled": ("取消工单", "Cancel"),
    "open": ("重新打开", "Reopen"),
    "returned": ("无法完成，退回", "Cannot finish"),
}
TICKET_CATEGORIES: Mapping[str, Label] = {
    "water": ("水管漏水或堵塞", "Water"),
    "electric": ("电路和电器", "Electrical"),
    "doors": ("门窗门锁", "Doors and locks"),
    "fixtures": ("室内设施", "Fixtures"),
    "lift": ("电梯", "Lift"),
    "public": ("公共设施", "Common areas"),
    "attitude": ("服务态度", "Staff attitude"),
    "cleaning": ("清洁卫生和环境", "Cleaning"),
    "security": ("安全保卫", "Security"),
    "noise": ("噪音和邻里", "Noise and neighbours"),
    "parking": ("停车", "Parking"),
    "other": ("其他", "Other"),
}
SAID: Mapping[str, Label] = {
    "pressed": ("按键", "pressed"),
    "entered": ("输入", "entered"),
    "said": ("说", "said"),
}
AVAILABILITY: Mapping[str, Label] = {
    "available": ("空闲", "Available"),
    "busy": ("忙碌", "Busy"),
    "away": ("离开", "Away"),
}
TAKE_STATES: Mapping[str, Label] = {
    "connecting": ("正在转接来电…", "Putting the caller through…"),
    "ringing": ("您的电话正在响铃，请接听。", "Your phone is ringing: answer it."),
    "answered": ("通话已接通。结束后请填写处理结果。", "Connected. Wrap up when you are done."),
    "missed": (
        "您未接听，来电已回到队列，您的状态已设为离开。",
        "You did not answer: the caller is back in the queue and you are now away.",
    ),
    "caller_gone": (
        "来电人在接通前挂断，系统将安排回电。",
        "The caller hung up before you answered; a callback will be arranged.",
    ),
}
CALLBACK_STATUSES: Mapping[str, Label] = {
    "pending": ("待回电", "Pending"),
    "unreachable": ("多次未接通", "Unreachable"),
    "done": ("已回电", "Done"),
    "cancelled": ("已取消", "Cancelled"),
}
# Why a callback is owed, by the form of its stored reason (ivr/intake/follow_up.py, the wrap-up's
# promise, a ticket's return visit). The stored text stays English: the API returns it.
# A {placeholder} stands for a part that varies; PARTS says how to word it.
CALLBACK_REASONS: Mapping[str, Label] = {
    "message left out of hours": ("非工作时间留言", "Message left out of hours"),
    "message left: no agent free": ("留言：坐席繁忙", "Message left: no agent free"),
    "inquiry message (important)": ("咨询留言（重要）", "Inquiry message (important)"),
    "inquiry message": ("咨询留言", "Inquiry message"),
    "emergency: nobody on duty answered": (
        "紧急报修：值班人员未接听",
        "Emergency: nobody on duty answered",
    ),
    "message left while the system was down": (
        "系统故障期间留言",
        "Message left while the system was down",
    ),
    "message left at {node}": ("留言（{node}）", "Message left at {node}"),
    "requested from the {queue} queue after {minutes} min": (
        "在{queue}队列等待{minutes}分钟后预约回电",
        "Requested from the {queue} queue after {minutes} min",
    ),
    "abandoned in the queue at {queue}": (
        "在{queue}队列等待时挂断",
        "Hung up while waiting in the {queue} queue",
    ),
    "abandoned in the IVR at {queue}": (
        "在自助语音（{queue}）中挂断",
        "Hung up in the automated menus ({queue})",
    ),
    "callback promised by {name}": ("{name}承诺回电", "Callback promised by {name}"),
    "return visit: {kind} {number} resolved": (
        "回访：{kind} {number} 已完成",
        "Return visit: {kind} {number} resolved",
    ),
}

# The console's own words, kept here with the rest so a word is written once.
BOARD_STAGES: Mapping[str, Label] = {
    "ivr": ("自助菜单", "In the menus"),
    "queue": ("排队等待", "Waiting"),
    "agent": ("人工通话", "With a person"),
    "outbound": ("外呼", "Outbound"),
}
STAFF_ROLES: Mapping[str, Label] = {
    "agent": ("接待员", "Agent"),
    "supervisor": ("主管", "Supervisor"),
    "admin": ("管理员", "Admin"),
    "technician": ("维修人员", "Technician"),
}
SLA_STATES: Mapping[str, Label] = {
    "breached": ("已超时", "Breached"),
    "at_risk": ("即将超时", "About to breach"),
}
TICKET_PRIORITIES: Mapping[str, Label] = {
    "emergency": ("紧急", "Emergency"),
    "high": ("重要", "High"),
    "normal": ("一般", "Normal"),
}
TICKET_LOG: Mapping[str, Label] = {
    "created": ("受理", "Opened"),
    "notified": ("已通知", "Notified"),
    "not_notified": ("无法通知", "Could not notify"),
    "escalated": ("升级", "Escalated"),
    "sla_warning": ("即将超时提醒", "Deadline warning"),
    "sla_breached": ("已超时", "Deadline missed"),
    "resolved": ("完成", "Done"),
    "return_visit": ("回访", "Return visit"),
    "reopened": ("重新处理", "Reopened"),
    "desk_note": ("坐席备注", "Agent's note"),
    "engineer_alerted": ("已呼叫值班工程师", "On-call engineer rung"),
    "managers_told": ("工程师未接，已通知主管", "No engineer answered: managers told"),
    "acknowledged": ("确认受理", "Acknowledged"),
    "dispatched": ("派工", "Dispatched"),
    "reassigned": ("改派", "Reassigned"),
    "on_site": ("维修人员到场", "Technician arrived"),
    "investigated": ("调查核实", "Investigated"),
    "closed": ("归档", "Closed"),
    "cancelled": ("取消", "Cancelled"),
    "returned": ("无法完成，退回派工", "Returned: could not finish"),
}
DEADLINE_STATES: Mapping[str, Label] = {
    "met": ("按时", "Met"),
    "missed": ("超时", "Missed"),
    "pending": ("未到", "Pending"),
    "passed": ("—", "Stage passed"),
}
CALL_DIRECTIONS: Mapping[str, Label] = {
    "inbound": ("呼入", "Inbound"),
    "outbound": ("呼出", "Outbound"),
}
REPORT_FILES: Mapping[str, Label] = {
    "report.html": ("查看报告", "View the report"),
    "calls.csv": ("下载通话登记表 CSV", "Download the call register (CSV)"),
    "report.pdf": ("下载 PDF", "Download the PDF"),
}
AUDIT_ACTIONS: Mapping[str, Label] = {
    "view_call": ("查看通话", "Viewed a call"),
    "export_calls": ("导出通话记录", "Exported the call log"),
    "retention_purge": ("到期清除", "Retention purge"),
    "resolve_dead_letter": ("死信标记已处理", "Marked a dead letter resolved"),
}

LABELS: Mapping[str, Mapping[str, Label]] = {
    "purpose": PURPOSES,
    "category": CATEGORIES,
    "outcome": OUTCOMES,
    "disposition": DISPOSITIONS,
    "ticket_kind": TICKET_KINDS,
    "ticket_status": TICKET_STATUSES,
    "ticket_category": TICKET_CATEGORIES,
    "said": SAID,
    "availability": AVAILABILITY,
    "take_state": TAKE_STATES,
    "callback_status": CALLBACK_STATUSES,
}


def label(group: str, key: str | None) -> Label:
    """The label, or the key itself for something the desk has no words for yet."""
    return LABELS.get(group, {}).get(key or "", (key or "", key or ""))


def _worded_part(name: str, value: str) -> Label:
    """A varying part of a reason: a queue or ticket kind by its label, the rest as is."""
    if name == "queue":
        zh, en = PURPOSES.get(value) or CATEGORIES.get(value) or (value, value)
        return zh, en.lower()
    if name == "kind":
        zh, en = TICKET_KINDS.get(value, (value, value))
        return zh, en.lower()
    return value, value


@cache
def _reason_pattern(form: str) -> re.Pattern[str]:
    literal = re.split(r"\{(\w+)\}", form)
    parts = [
        re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>.+?)"
        for index, piece in enumerate(literal)
    ]
    return re.compile("".join(parts))


def reason_label(reason: str) -> Label:
    """Why a callback is owed, in both languages; a reason of a form the desk does not
    know is shown as stored, with no English part."""
    for form, (zh, en) in CALLBACK_REASONS.items():
        found = _reason_pattern(form).fullmatch(reason)
        if found is None:
            continue
        worded = {name: _worded_part(name, value) for name, value in found.groupdict().items()}
        return (
            zh.format_map({name: words[0] for name, words in worded.items()}),
            en.format_map({name: words[1] for name, words in worded.items()}),
        )
    return reason, ""
