"""The call register's terms, each defined once: the value stored, and its words on staff
pages, Chinese then English. The flows, the models, the desk, the console, the CSV and the
monthly report all take categories and outcomes from here, so they are worded alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

Label = tuple[str, str]  # Chinese, English


class CallCategory(StrEnum):
    """R4: every call is classified."""

    REPAIR = "repair"  # 报修 / 有偿服务
    COMPLAINT = "complaint"  # 投诉
    INQUIRY = "inquiry"  # 事务咨询
    HELP = "help"  # 事务求助
    SUGGESTION = "suggestion"  # 建议与意见
    SALES = "sales"  # R12: declined politely


class CallOutcome(StrEnum):
    SELF_SERVED = "self_served"  # the IVR finished the caller's business
    TRANSFERRED = "transferred"  # handed to the human queue
    AGENT_SERVED = "agent_served"  # a person took the call
    MESSAGE = "message"  # the caller left a message for a callback
    CALLBACK = "callback"  # the caller chose to be called back, keeping their place in line
    ABANDONED = "abandoned"  # hung up before being served
    FAILED = "failed"  # never connected (busy, failed, no answer)


CATEGORY_LABELS: Mapping[CallCategory, Label] = {
    CallCategory.REPAIR: ("报修", "Repair"),
    CallCategory.COMPLAINT: ("投诉", "Complaint"),
    CallCategory.INQUIRY: ("咨询", "Inquiry"),
    CallCategory.HELP: ("求助", "Request for help"),
    CallCategory.SUGGESTION: ("建议", "Suggestion"),
    CallCategory.SALES: ("推销", "Sales call"),
}
OUTCOME_LABELS: Mapping[CallOutcome, Label] = {
    CallOutcome.SELF_SERVED: ("自助完成", "Self-served"),
    CallOutcome.TRANSFERRED: ("转人工", "Transferred"),
    CallOutcome.AGENT_SERVED: ("人工接听", "Served by an agent"),
    CallOutcome.MESSAGE: ("留言", "Message"),
    CallOutcome.CALLBACK: ("预约回电", "Callback"),
    CallOutcome.ABANDONED: ("放弃", "Abandoned"),
    CallOutcome.FAILED: ("未接通", "Not connected"),
}
