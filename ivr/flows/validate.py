"""Graph checks run at start-up and in CI: a broken flow must never reach a live call."""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator, Mapping

from ivr.core.callback_prompts import CALLBACK_PROMPTS
from ivr.core.prompts import Catalogue
from ivr.flows.definition import CATEGORIES, INTERACTIVE, REPEAT, Flow, FlowError, Node

# Prompts the engine itself speaks, whatever the flow.
ENGINE_PROMPTS = (
    "system.no_input",
    "system.invalid",
    "system.message_thanks",
    "system.queue_hold",
    "system.queue_sorry",
    "system.fallback_apology",
    "system.goodbye",
    "unit.spoken",
    "unit.spoken_no_entrance",
    "unit.not_found",
    "unit.which_entrance",
    "status.none",
    "status.unknown",
    "status.finished",
    "status.count",
    "status.item",
    "status.item_visit",
    "kind.repair",
    "kind.complaint",
    "kind.emergency_repair",
    # the goodbye worded for what the call did (the engine's `done`)
    "system.goodbye.repair",
    "system.goodbye.emergency",
    "system.goodbye.complaint",
    "system.goodbye.message",
    "system.goodbye.faq",
    "system.goodbye.status",
    *(
        f"ticket_status.{status}"
        for status in (
            "open",
            "acknowledged",
            "dispatched",
            "on_site",
            "investigated",
            "done",
            "answered",
            "closed",
            "cancelled",
        )
    ),
    "appointment.option",
    "slot.today_am",
    "slot.today_pm",
    "slot.tomorrow_am",
    "slot.tomorrow_pm",
    "slot.next_am",
    "slot.next_pm",
    "rating.thanks",
    "queue.position",
    "queue.next",
    "sms.repair_confirmation_no_slot",
    "sms.window",
    "sms.moment",
    "sms.part.am",
    "sms.part.pm",
    "queue.choice",
    "queue.callback_promise",
    "sms.repair_confirmation",
    "sms.emergency_confirmation",
    "sms.complaint_confirmation",
    "sms.escalation",
    "sms.sla_warning",
    # a work order moving: the technician's order, the resident kept informed
    "sms.technician_dispatch",
    "sms.resident_dispatched",
    "sms.resident_done",
    "sms.order_returned",
    "sms.when_soon",
)
# Prompts the on-call engineer hears and reads (the <Dial> whisper, the SMS).
ONCALL_PROMPTS = (
    "oncall.briefing",
    "oncall.accept",
    "oncall.accepted",
    "oncall.not_accepted",
    "oncall.unit_unknown",
    "emergency.kind.leak",
    "emergency.kind.power",
    "emergency.kind.lift",
    "emergency.kind.gas",
    "emergency.kind.fire",
    "emergency.kind.other",
    "sms.engineer_alert",
    "sms.emergency_unanswered",
)
ALERTS = frozenset({"call"})
# Prompts the desk's bridge webhooks speak (ivr/voice/desk_bridge.py).
DESK_PROMPTS = ("desk.connecting", "desk.agent_missed")
TICKET_KINDS = frozenset({"repair", "complaint"})
NEEDS_RETRIES = frozenset({"menu", "collect", "appointment"})
ANSWERS = ("yes", "no")  # what an option may mean
ANSWER_GROUPS = frozenset({*ANSWERS, "elsewhere", "neither"})  # the flow's `answers` words
GATHER_INPUTS = frozenset({"dtmf", "speech", "dtmf speech"})  # what a <Gather> may take

REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "say": ("next",),
    "menu": ("exhausted",),
    "hours": ("open", "closed"),
    "language": ("next",),
    "queue": ("queue", "after"),
    "message": ("next",),
    "hangup": (),
    "set": ("set", "next"),
    "identify": ("known", "unknown"),
    "collect": ("save_as", "next", "exhausted"),
    "lookup_unit": ("next",),
    "describe": ("save_as", "next", "exhausted"),
    "record": ("next",),
    "appointment": ("next", "exhausted"),
    "ticket": ("kind", "next"),
    "dial": ("next", "exhausted"),
    "status": ("next",),
    "rating": ("next",),
    "branch": ("value", "next"),
    "connect": ("path", "whisper", "next", "exhausted"),
    "whisper": ("path",),
    "oncall": ("open", "closed"),
}
# What a name in a prompt key may be, by name: {"src": ("asked", "missed", ...)}.
Choices = Mapping[str, tuple[str, ...]]


def validate_flow(
    flow: Flow, catalogues: Mapping[str, Catalogue], choices: Choices | None = None
) -> None:
    """`choices`: the values each name in a prompt key (``callback.agent.{src}``) takes; every
    key they make must be in every catalogue."""
    problems = list(_problems(flow, catalogues, choices or {}))
    if problems:
        raise FlowError(f"flow {flow.name!r} is broken:\n  " + "\n  ".join(problems))


def _problems(flow: Flow, catalogues: Mapping[str, Catalogue], choices: Choices) -> Iterator[str]:
    if flow.start not in flow.nodes:
        yield f"start node {flow.start!r} does not exist"
        return
    for node in flow.nodes.values():
        yield from _node_problems(node, flow, catalogues)
    yield from _path_problems(flow)
    yield from _speech_problems(flow, catalogues)
    yield from _prompt_problems(flow, catalogues, choices)
    yield from _unreachable(flow)
    yield from _silent_loops(flow)


def _node_problems(node: Node, flow: Flow, catalogues: Mapping[str, Catalogue]) -> Iterator[str]:
    for name in REQUIRED_FIELDS[node.type]:
        if not getattr(node, name):
            yield f"{node.name}: a {node.type} node needs {name!r}"
    remembered = _remembered(flow)
    for label, target in node.targets():
        if target.startswith("$"):
            names = remembered.get(target[1:], set())
            if not names:
                yield f"{node.name}: {label} goes to {target}, which no node sets"
            for name in sorted(names - set(flow.nodes)):
                yield f"{node.name}: {label} goes to {target}, which may be unknown node {name!r}"
        elif target not in flow.nodes and not (target == REPEAT and label in node.options):
            yield f"{node.name}: {label} goes to unknown node {target!r}"
    if node.type == "menu":
        yield from _menu_problems(node, catalogues)
    if node.type in NEEDS_RETRIES and node.retries < 1:
        yield f"{node.name}: a {node.type} node needs a retry limit of at least 1"
    if node.alert is not None and (node.type != "ticket" or node.alert not in ALERTS):
        yield f"{node.name}: alert is for ticket nodes and must be one of {sorted(ALERTS)}"
    if node.type == "ticket" and node.kind not in TICKET_KINDS:
        yield f"{node.name}: ticket kind must be repair or complaint, not {node.kind!r}"
    if node.type == "language":
        for locale in catalogues:
            if node.switch.get(locale) not in catalogues:
                yield f"{node.name}: no switch from {locale!r} to a known locale"
    if node.category and node.category not in CATEGORIES:
        yield f"{node.name}: unknown category {node.category!r}"
    if node.input is not None and node.input not in GATHER_INPUTS:
        yield f"{node.name}: input must be one of {sorted(GATHER_INPUTS)}, not {node.input!r}"
    if node.path is not None and not node.path.startswith("/voice/"):
        yield f"{node.name}: path {node.path!r} is not a /voice/ webhook"
    whisper = flow.nodes.get(str(node.whisper))
    if node.type == "connect" and whisper is not None and whisper.type != "whisper":
        yield f"{node.name}: whisper goes to {node.whisper!r}, which is not a whisper node"


def _path_problems(flow: Flow) -> Iterator[str]:
    """Twilio comes back to a node by its path alone: no two nodes may share one."""
    seen: dict[str, str] = {}
    for node in flow.nodes.values():
        if node.path is None:
            continue
        if node.path in seen:
            yield f"{node.name}: path {node.path!r} is also {seen[node.path]!r}'s"
        seen.setdefault(node.path, node.name)


def _remembered(flow: Flow) -> dict[str, set[str]]:
    """For every remembered key, the values `set` nodes and options give it."""
    values: dict[str, set[str]] = {}
    for node in flow.nodes.values():
        sets = [node.set, *(option.set for option in node.options.values())]
        for mapping in sets:
            for key, value in mapping.items():
                values.setdefault(key, set()).add(value)
    return values


def _menu_problems(node: Node, catalogues: Mapping[str, Catalogue]) -> Iterator[str]:
    if not node.prompts:
        yield f"{node.name}: a menu needs a prompt"
    if not any(option.goto != REPEAT for option in node.options.values()):
        yield f"{node.name}: a menu needs at least one way out"
    for option in node.options.values():
        if len(option.key) != 1 or option.key not in "0123456789*#":
            yield f"{node.name}: option {option.key!r} is not a single keypad key"
        if option.category and option.category not in CATEGORIES:
            yield f"{node.name}: option {option.key} has unknown category {option.category!r}"
        said = {"keywords": option.keywords, "examples": option.examples, "label": option.label}
        for what, by_locale in said.items():
            for locale in by_locale:
                if locale not in catalogues:
                    yield f"{node.name}: option {option.key} has {what} for unknown locale {locale}"
        if option.examples and set(option.label) != set(catalogues):
            yield f"{node.name}: option {option.key} has examples but no label in every locale"
        if option.means is not None and option.means not in ANSWERS:
            yield f"{node.name}: option {option.key} means {option.means!r}, not yes or no"
    for key in node.speech_priority:
        if key not in node.options:
            yield f"{node.name}: speech_priority names unknown option {key!r}"


def _speech_problems(flow: Flow, catalogues: Mapping[str, Catalogue]) -> Iterator[str]:
    """The speech data (ivr/flows/speech): an emergency menu that is a menu, `anywhere`
    phrases on its options only, and yes and no words for every question that has them."""
    menu = flow.nodes.get(flow.emergencies or "")
    if flow.emergencies is not None and (menu is None or menu.type != "menu"):
        yield f"emergencies names {flow.emergencies!r}, which is not a menu"
    for node in flow.nodes.values():
        for option in node.options.values():
            if option.anywhere and node is not menu:
                yield f"{node.name}: option {option.key}: anywhere phrases off the emergency menu"
    answered = any(o.means for n in flow.nodes.values() for o in n.options.values())
    for answer in ANSWERS if answered else ():
        for locale in catalogues:
            if not flow.answers.get(answer, {}).get(locale):
                yield f"answers: no {answer!r} words for {locale}"
    for group in flow.answers:
        if group not in ANSWER_GROUPS:
            yield f"answers: {group!r} is not one of {sorted(ANSWER_GROUPS)}"


def _prompt_problems(
    flow: Flow, catalogues: Mapping[str, Catalogue], choices: Choices
) -> Iterator[str]:
    keys = set(ENGINE_PROMPTS) | set(ONCALL_PROMPTS) | set(DESK_PROMPTS) | set(CALLBACK_PROMPTS)
    templates = [key for node in flow.nodes.values() for key in node.spoken]
    templates += [word.key for word in flow.words.values() if word.key]
    for template in templates:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        unknown = sorted(names - set(choices))
        if unknown:
            yield f"prompt key {template!r} names {unknown}, which the flow is not told about"
            continue
        keys.update(_expanded(template, sorted(names), choices))
    for locale, catalogue in catalogues.items():
        for key in sorted(keys - set(catalogue.prompts)):
            yield f"prompt {key!r} is missing in {locale}"


def _expanded(template: str, names: list[str], choices: Choices) -> Iterator[str]:
    for values in itertools.product(*(choices[name] for name in names)):
        yield template.format_map(dict(zip(names, values, strict=True)))


def _unreachable(flow: Flow) -> Iterator[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.nodes:
            continue
        seen.add(name)
        node = flow.nodes[name]
        todo.extend(target for _, target in node.targets())
        todo.extend(
            v for m in [node.set, *(o.set for o in node.options.values())] for v in m.values()
        )
    for name in sorted(set(flow.nodes) - seen):
        yield f"{name}: unreachable from {flow.start!r}"


def _silent_loops(flow: Flow) -> Iterator[str]:
    """A cycle through say/hours/language nodes alone would never reach the caller."""
    passive = {name for name, node in flow.nodes.items() if node.type not in INTERACTIVE}
    edges = {name: [t for _, t in flow.nodes[name].targets() if t in passive] for name in passive}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> Iterator[str]:
        if name in path:
            yield " -> ".join([*path, name]) + ": loops without asking the caller anything"
            return
        if name in done:
            return
        for target in edges[name]:
            yield from visit(target, [*path, name])
        done.add(name)

    for name in sorted(passive):
        yield from visit(name, [])
