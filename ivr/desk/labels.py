"""What the desk calls things on screen: Chinese first, English after."""

from __future__ import annotations

from collections.abc import Mapping

Label = tuple[str, str]

PURPOSES: Mapping[str, Label] = {
    "emergency": ("紧急报修", "Emergency"),
    "complaint": ("投诉", "Complaint"),
    "repair": ("报修", "Repair"),
    "inquiry": ("咨询", "Inquiry"),
    "general": ("人工服务", "General"),
}
CATEGORIES: Mapping[str, Label] = {
    "repair": ("报修", "Repair"),
    "complaint": ("投诉", "Complaint"),
    "inquiry": ("咨询", "Inquiry"),
    "help": ("求助", "Help"),
    "suggestion": ("建议", "Suggestion"),
    "sales": ("推销", "Sales"),
}
OUTCOMES: Mapping[str, Label] = {
    "self_served": ("自助完成", "Self-served"),
    "transferred": ("转人工", "Transferred"),
    "agent_served": ("人工接听", "Agent served"),
    "message": ("留言", "Message"),
    "callback": ("预约回电", "Callback"),
    "abandoned": ("放弃", "Abandoned"),
    "failed": ("未接通", "Failed"),
}
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
    "open": ("已受理", "Open"),
    "dispatched": ("已派工", "Dispatched"),
    "in_progress": ("处理中", "In progress"),
    "resolved": ("已完成", "Resolved"),
    "closed": ("已关闭", "Closed"),
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
