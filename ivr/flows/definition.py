"""Flow definitions: the IVR as data (`ivr/flows/*.yaml`), loaded and checked once.

A flow is a graph of named nodes. Node types:

- ``say``: speak prompts, then go to ``next``.
- ``menu``: speak a prompt inside a ``<Gather>``; options map keys to targets,
  with keywords for speech; ``retries`` failures lead to ``exhausted``.
- ``hours``: go to ``open`` in office hours, else to ``closed`` (or to ``shut``, when given,
  while the hotline is closed by hand: a closure is not announced as after hours).
- ``language``: switch the caller's locale, then go to ``next``.
- ``queue``: speak prompts and enqueue for a person; ``after`` is where a caller
  goes who leaves the queue unserved.
- ``message``: speak prompts and record a message, then go to ``next``.
- ``hangup``: speak prompts and end the call.
- ``set``: remember values for the rest of the call (``set``), then go to ``next``.
- ``identify``: look the caller ID up in the residents registry; ``known`` or ``unknown``.
- ``collect``: read keypad digits (ending with #) into ``save_as``, then go to ``next``;
  an ``optional`` one takes # alone (or silence) as no answer.
- ``lookup_unit``: find the unit typed on the keypad in the registry, then go to ``next``;
  one the registry lacks is told so and goes to ``missing`` (once; then on to ``next``).
- ``describe``: take a spoken description into ``save_as``; silence goes to ``exhausted``.
- ``record``: record the caller (a description or an account), then go to ``next``.
- ``appointment``: offer visit slots inside working hours, then go to ``next``.
- ``ticket``: number a repair order or complaint, read the number back, go to ``next``.
- ``dial``: ring the on-call ladder; ``next`` when someone answers, ``exhausted`` when nobody does.
  The engineer first hears the order's briefing and presses 1 to take the call; otherwise
  the next rung is rung.
- ``oncall``: go to ``open`` when an engineer is on call (the on-call ladder has a rung),
  else to ``closed``.
- ``status``: tell the caller the status of their open orders, then go to ``next``; a
  number asked about that no ticket has is told so and goes to ``missing`` when given.
- ``rating``: ask for a 1-3 satisfaction rating (optional), then go to ``next``; a 3
  (不满意) goes to ``dissatisfied`` when given, flagged for the supervisor.
- ``branch``: go to the target ``cases`` names for the remembered ``value``, else ``next``.
- ``connect``: (a call we placed) speak prompts, ring the person the call is about (its
  remembered ``to``) from the hotline's number and bridge them; they first hear the
  ``whisper`` node. ``next`` once they talked, ``exhausted`` when they never answered.
- ``whisper``: what the person a ``connect`` node rang hears before the bridge.

A target written ``$name`` is read from the call's remembered values (set with ``set``),
so a shared sub-flow such as unit confirmation can return to whoever called it.

A prompt key may name what the call knows, ``callback.agent.{src}``: the flow's validator is
told which values each such name takes. A node's ``intro`` prompts are spoken only the first
time it asks, not when it asks again after odd or no input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ivr.core.terms import CallCategory

REPEAT = "repeat"  # an option target: say the same menu again, no failure counted
NODE_TYPES = (
    "say",
    "menu",
    "hours",
    "language",
    "queue",
    "message",
    "hangup",
    "set",
    "identify",
    "collect",
    "lookup_unit",
    "describe",
    "record",
    "appointment",
    "ticket",
    "dial",
    "status",
    "rating",
    "branch",
    "connect",
    "whisper",
    "oncall",
)
# These end a TwiML response: the caller is asked something or leaves the IVR.
INTERACTIVE = frozenset(
    {
        "menu",
        "queue",
        "message",
        "hangup",
        "collect",
        "describe",
        "record",
        "appointment",
        "dial",
        "rating",
        "connect",
        "whisper",
    }
)
CATEGORIES = frozenset(CallCategory)  # ivr.core.terms: one list, with its words


class FlowError(ValueError):
    """The flow graph is broken; start-up and CI stop on it."""


Phrases = Mapping[str, tuple[str, ...]]  # per locale


@dataclass(frozen=True)
class Option:
    """A menu choice: its key, where it goes, and how a caller may say it.

    ``keywords`` decide outright when said (and not negated); ``examples`` train the
    classifier for everything else; ``label`` names the choice when the caller is asked
    back (「您是要{label}吗？」); ``means`` marks the yes or the no of a yes/no question;
    ``anywhere`` phrases (the emergency menu's) are heard at every menu of the call.
    """

    key: str
    goto: str
    category: str | None = None
    keywords: Phrases = field(default_factory=dict)
    set: Mapping[str, str] = field(default_factory=dict)
    examples: Phrases = field(default_factory=dict)
    label: Mapping[str, str] = field(default_factory=dict)
    means: str | None = None  # "yes" | "no"
    anywhere: Phrases = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The option in words a manager reads: its meaning, the emergency or category it
        sets, or where it goes (an FAQ by its topic) — as example files and corpora name it."""
        topic = self.goto.removeprefix("faq_")
        return self.means or self.set.get("emg") or self.set.get("cat") or topic


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    prompts: tuple[str, ...] = ()
    next: str | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    retries: int = 0
    timeout_s: int = 5
    exhausted: str | None = None
    speech_priority: tuple[str, ...] = ()
    open: str | None = None
    closed: str | None = None
    shut: str | None = None  # an hours node's: where a manual closure (HOTLINE_CLOSED) goes
    switch: Mapping[str, str] = field(default_factory=dict)
    queue: str | None = None
    category: str | None = None
    after: str | None = None
    max_length_s: int = 120
    set: Mapping[str, str] = field(default_factory=dict)
    known: str | None = None
    unknown: str | None = None
    save_as: str | None = None
    max_digits: int = 6
    callback: str | None = None
    kind: str | None = None
    path: str | None = None  # where its <Gather> posts, when not the inbound call's /voice/step
    input: str | None = None  # what its <Gather> takes, when not its type's default
    intro: tuple[str, ...] = ()  # spoken before the prompts, the first time it asks only
    whisper: str | None = None  # a connect node's: what the person rung hears first
    value: str | None = None  # a branch node's: the remembered value it goes by
    cases: Mapping[str, str] = field(default_factory=dict)
    unit_said: str | None = None  # a collect node's: where a whole unit said at once goes
    # A lookup_unit or status node's: where a unit or ticket number that does not exist goes.
    missing: str | None = None
    dissatisfied: str | None = None  # a rating node's: where a rating of 3 (不满意) goes
    optional: bool = False  # a collect node's: # alone (or silence) skips it
    # A ticket node's: "call" has a worker ring the on-call ladder about the order, each
    # engineer with a briefing and an SMS, while the caller leaves (gas, fire).
    alert: str | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        """(label, target) for every edge leaving this node."""
        labels = (
            *("next", "exhausted", "open", "closed", "after", "known", "unknown", "whisper"),
            *("unit_said", "shut", "missing", "dissatisfied"),
        )
        for label in labels:
            target = getattr(self, label)
            if target:
                yield label, target
        for option in self.options.values():
            yield option.key, option.goto
        for case, target in self.cases.items():
            yield f"{self.value}={case}", target

    @property
    def spoken(self) -> tuple[str, ...]:
        """Every prompt key it may speak (some name what the call knows)."""
        return (*self.intro, *self.prompts)


@dataclass(frozen=True)
class Word:
    """A prompt placeholder worded from what the call knows: the remembered value `known`
    when the call has it, else the catalogue's word `key` (which may name remembered
    values, as in ``survey.kind.{topic}``)."""

    key: str = ""
    known: str = ""


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Node]
    # Prompt placeholders worded from what the call knows: {kind_label} is the catalogue's
    # "survey.kind.{topic}" for the call's topic.
    words: Mapping[str, Word] = field(default_factory=dict)
    # The menu whose options are emergencies, heard at every menu (its options' `anywhere`
    # phrases and examples); sentences that are no option of any menu; the words of yes and no.
    emergencies: str | None = None
    not_emergencies: Phrases = field(default_factory=dict)  # 打不着火 holds no 着火
    not_for_us: Phrases = field(default_factory=dict)
    answers: Mapping[str, Phrases] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return self.nodes[name]


def _phrases(raw: Any, what: str) -> Phrases:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise FlowError(f"{what}: a list of phrases per locale")
    return {str(loc): tuple(str(p) for p in phrases) for loc, phrases in raw.items()}


def _option(key: str, raw: Any) -> Option:
    if isinstance(raw, str):
        raw = {"goto": raw}
    values = {str(k): str(v) for k, v in (raw.get("set") or {}).items()}
    label = {str(loc): str(text) for loc, text in (raw.get("label") or {}).items()}
    return Option(
        key=str(key),
        goto=raw["goto"],
        category=raw.get("category"),
        keywords=_phrases(raw.get("keywords"), f"option {key!r} keywords"),
        set=values,
        examples=_phrases(raw.get("examples"), f"option {key!r} examples"),
        label=label,
        means=raw.get("means"),
        anywhere=_phrases(raw.get("anywhere"), f"option {key!r} anywhere"),
    )


def _node(name: str, raw: Mapping[str, Any]) -> Node:
    fields = dict(raw)
    node_type = fields.pop("type", None)
    if node_type not in NODE_TYPES:
        raise FlowError(f"node {name!r}: type must be one of {NODE_TYPES}, not {node_type!r}")
    options = {str(k): _option(str(k), v) for k, v in (fields.pop("options", None) or {}).items()}
    prompts, intro = _keys(fields.pop("prompts", None)), _keys(fields.pop("intro", None))
    priority = tuple(str(k) for k in fields.pop("speech_priority", None) or options)
    fields["set"] = {str(k): str(v) for k, v in (fields.pop("set", None) or {}).items()}
    fields["cases"] = {str(k): str(v) for k, v in (fields.pop("cases", None) or {}).items()}
    try:
        return Node(
            name=name,
            type=node_type,
            prompts=prompts,
            intro=intro,
            options=options,
            speech_priority=priority,
            **fields,
        )
    except TypeError as exc:
        raise FlowError(f"node {name!r}: {exc}") from exc


def _keys(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    return tuple(str(key) for key in raw or ())


def _word(name: str, raw: Any) -> Word:
    if isinstance(raw, str):
        return Word(key=raw)
    if isinstance(raw, dict) and set(raw) <= {"known", "otherwise"} and raw.get("known"):
        return Word(key=str(raw.get("otherwise") or ""), known=str(raw["known"]))
    raise FlowError(f"word {name!r}: a catalogue key, or {{known: NAME, otherwise: KEY}}")


def load_flow(path: Path) -> Flow:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "start" not in data or "nodes" not in data:
        raise FlowError(f"{path.name}: needs 'start' and 'nodes'")
    nodes = {name: _node(name, raw) for name, raw in data["nodes"].items()}
    not_for_us = _phrases(data.get("not_for_us"), "not_for_us")
    if data.get("examples_from"):
        more = path.parent / str(data["examples_from"])
        nodes, not_for_us = _with_examples(nodes, not_for_us, data.get("emergencies"), more)
    words = {str(k): _word(str(k), v) for k, v in (data.get("words") or {}).items()}
    answers = {
        str(answer): _phrases(phrases, f"answers {answer!r}")
        for answer, phrases in (data.get("answers") or {}).items()
    }
    return Flow(
        name=path.stem,
        start=data["start"],
        nodes=nodes,
        words=words,
        emergencies=data.get("emergencies"),
        not_emergencies=_phrases(data.get("not_emergencies"), "not_emergencies"),
        not_for_us=not_for_us,
        answers=answers,
    )


# An examples file: per locale and menu, sentences under the name of the option they mean
# (``repair``, ``water``, ``office_hours``), ``emergency.gas`` for an emergency said at that
# menu, ``none`` for what no option is. Yes and no are heard by the flow's answers instead.
EMERGENCY_LABEL = "emergency."
NONE_LABEL = "none"


def _with_examples(
    nodes: dict[str, Node], not_for_us: Phrases, emergencies: str | None, path: Path
) -> tuple[dict[str, Node], Phrases]:
    """The nodes and not_for_us sentences with an examples file's sentences added."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError(f"examples_from {path.name}: {exc}") from exc
    added: dict[tuple[str, str, str], list[str]] = {}  # (menu, option key, locale)
    extra: dict[str, list[str]] = {}
    for locale, menus in _mapping(data, path.name).items():
        for menu, labels in _mapping(menus, f"{path.name} {locale}").items():
            node = nodes.get(str(menu))
            if node is None or node.type != "menu":
                raise FlowError(f"{path.name}: {menu!r} is no menu of the flow")
            for label, texts in _mapping(labels, f"{path.name} {locale} {menu}").items():
                if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                    raise FlowError(f"{path.name} {locale} {menu} {label}: a list of sentences")
                if label == NONE_LABEL:
                    extra.setdefault(str(locale), []).extend(texts)
                    continue
                target, key = _example_option(nodes, node, str(label), emergencies, path.name)
                added.setdefault((target, key, str(locale)), []).extend(texts)
    for (menu, key, locale), texts in added.items():
        node = nodes[menu]
        option = node.options[key]
        examples = {**option.examples, locale: (*option.examples.get(locale, ()), *texts)}
        options = {**node.options, key: replace(option, examples=examples)}
        nodes[menu] = replace(node, options=options)
    merged = {loc: (*not_for_us.get(loc, ()), *extra.get(loc, ())) for loc in {*not_for_us, *extra}}
    return nodes, merged


def _example_option(
    nodes: Mapping[str, Node], node: Node, label: str, emergencies: str | None, source: str
) -> tuple[str, str]:
    """(menu, option key) an examples file's label names at a menu."""
    if label.startswith(EMERGENCY_LABEL):
        node = nodes.get(emergencies or "") or node
        label = label.removeprefix(EMERGENCY_LABEL)
    for option in node.options.values():
        if option.name == label and not option.means:
            return node.name, option.key
    raise FlowError(f"{source}: {node.name} has no option {label!r} (yes and no are answers)")


def _mapping(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise FlowError(f"{what}: expected a mapping")
    return {str(k): v for k, v in raw.items()}


def default_flow_path() -> Path:
    return flow_path("main")


def flow_path(name: str) -> Path:
    """A flow file in this folder: main (the inbound call) or an outbound leg's."""
    return Path(__file__).with_name(f"{name}.yaml")
