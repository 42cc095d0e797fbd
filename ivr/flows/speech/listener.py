"""What a caller said at a menu: which option, how sure we are, and why.

In order: the answer to a yes/no question (negations first: 「不是」 is no); an emergency,
heard at every menu; a key said aloud (「一」); the menu's keywords, not negated, by the
node's priority; and the classifier trained from the options' examples. A sentence the
classifier is only fairly sure of is asked back (「您是要报修吗？」) rather than refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flows.definition import Flow, Node, Option
from ivr.flows.speech.classifier import NOT_FOR_US, Classifier, train
from ivr.flows.speech.keywords import Hit, Sentence, chosen_key, find_hits
from ivr.flows.speech.text import has_han, normalise

log = logging.getLogger(__name__)
MODEL_FORMAT = 1  # the cache file's layout; a change here retires every older file

LOCALES = ("zh-CN", "en-US")
SURE = 0.45  # the classifier decides alone from here
ASK_BACK = 0.25  # from here to SURE the caller is asked whether we understood
EMERGENCY_SURE = 0.9  # an emergency taken from the classifier alone needs this much
CALM = "~"  # the key of the flow's not_emergencies phrases while matching
# and a whole sentence: 「水管漏了」 at the repair menu is the answer to its question
MIN_EMERGENCY_CHARS, MIN_EMERGENCY_WORDS = 6, 4
MIN_ASK_BACK_CHARS = 3  # 「喂喂」「那个」 are not worth a question back
MIN_GUESS_CHARS = 2  # 「唔」 is no sentence to guess from

# A caller who says the number instead of pressing it.
SPOKEN_KEYS = {
    "1": "1", "一": "1", "幺": "1", "one": "1", "一号": "1",
    "2": "2", "二": "2", "两": "2", "two": "2", "二号": "2",
    "3": "3", "三": "3", "three": "3", "三号": "3",
    "4": "4", "四": "4", "four": "4", "5": "5", "五": "5", "five": "5",
    "6": "6", "六": "6", "six": "6", "7": "7", "七": "7", "seven": "7",
    "9": "9", "九": "9", "nine": "9",
    "0": "0", "零": "0", "zero": "0",
    "星号": "*", "star": "*",
}  # fmt: skip
_KEY_WORDS = ("按", "选", "press", "option", "number", "键", "我选", "我按", "ipress", "ichoose")


def _without_key_words(said: str) -> str:
    said = said.replace(" ", "")
    for word in sorted(_KEY_WORDS, key=len, reverse=True):  # 我按 before 按
        said = said.replace(word, "")
    return said


@dataclass(frozen=True)
class Heard:
    """The option understood (None: not understood), and how."""

    option: Option | None = None
    via: str = ""  # answer | emergency | key | keyword | example
    score: float = 0.0
    words: tuple[str, ...] = ()
    sure: bool = True  # False: ask the caller back before acting on it
    emergency: bool = False
    out_of_scope: bool = False
    why: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class MenuModels:
    by_locale: Mapping[str, Classifier]

    def classifier(self, text: str) -> Classifier | None:
        return self.by_locale.get("zh-CN" if has_han(text) else "en-US")


class Listener:
    """Everything the flow's menus need to understand speech, trained once per flow."""

    def __init__(self, flow: Flow, background: bool = False, cache: Path | None = None) -> None:
        """`background`: train in a thread, started by `start_training` or the first
        sentence heard, and hear with keywords alone until it is done, so a process answers
        its first call at once (training takes seconds) and one that hears nothing (a
        worker) never trains. `cache`: a folder the host's processes share the learned
        models in (see `_train`)."""
        self.flow = flow
        self.cache = cache
        self.fingerprint = _fingerprint(flow)
        self.emergency_menu = flow.nodes.get(flow.emergencies or "")
        self.background = background
        if not background:
            _train(flow, self.fingerprint)

    def start_training(self) -> None:
        if not self.trained:
            _train_in_background(self.flow, self.fingerprint, self.cache)

    @property
    def trained(self) -> bool:
        return self.fingerprint in _TRAINED

    @property
    def menus(self) -> Mapping[str, MenuModels]:
        return _TRAINED.get(self.fingerprint, _UNTRAINED)[0]

    @property
    def emergency_models(self) -> MenuModels:
        return _TRAINED.get(self.fingerprint, _UNTRAINED)[1]

    def hear(self, node: Node, locale: str, text: str) -> Heard:
        if self.background:
            self.start_training()
        sentence = Sentence.of(text, locale)
        if not sentence.parts:
            return Heard(why=("nothing was said",))
        settled = (
            self._answer(node, sentence)
            or self._emergency(node, sentence, text)
            or self._key(node, sentence)
        )
        if settled is not None:
            return settled
        # The menu's keywords, found once: they decide, or their negations are taken out of
        # what the classifier reads.
        words = {o.key: o.keywords.get(sentence.locale, ()) for o in node.options.values()}
        hits = find_hits(sentence, words)
        return self._keyword(node, hits) or self._example(node, sentence, text, hits)

    def yes_or_no(self, text: str, locale: str) -> str | None:
        """ "yes", "no", or None for a sentence that is neither."""
        sentence = Sentence.of(text, locale)
        return yes_or_no(self.flow.answers, sentence)[0] if sentence.parts else None

    def _answer(self, node: Node, sentence: Sentence) -> Heard | None:
        by_meaning = {o.means: o for o in node.options.values() if o.means}
        if not by_meaning:
            return None
        answer, word = yes_or_no(self.flow.answers, sentence)
        if answer is None or answer not in by_meaning:
            return None
        why = (f"{word!r} means {answer}",)
        return Heard(by_meaning[answer], "answer", 1.0, (word,), why=why)

    def emergency(self, node: Node, locale: str, text: str) -> Heard | None:
        """The emergency a sentence tells of, if any: for what a caller says at a node
        that is no menu (a repair described: 「水管爆了，到处都是水」)."""
        if self.background:
            self.start_training()
        sentence = Sentence.of(text, locale)
        return self._emergency(node, sentence, text) if sentence.parts else None

    def _emergency(self, node: Node, sentence: Sentence, text: str) -> Heard | None:
        menu = self.emergency_menu
        if menu is None:
            return None
        phrases = {o.key: o.anywhere.get(sentence.locale, ()) for o in menu.options.values()}
        phrases[CALM] = self.flow.not_emergencies.get(sentence.locale, ())
        found = find_hits(sentence, phrases)
        calm = [h for h in found if h.key == CALM]
        hits = [
            h
            for h in found
            if h.key != CALM
            and not sentence.in_the_past(h.clause)
            and not any(h.overlaps(c) for c in calm)  # 火车 holds no 失火
        ]
        hit = chosen_key(hits, menu.speech_priority)
        if hit is not None:
            why = (f"emergency phrase {hit.word!r}" + (" (by sound)" if hit.by_sound else ""),)
            option = menu.options[hit.key]
            return Heard(option, "emergency", 1.0, (hit.word,), emergency=True, why=why)
        if node.name == menu.name or not _whole_sentence(sentence):
            return None
        model = self.emergency_models.classifier(text)
        if model is None:
            return None
        said = sentence.without([h for h in hits if h.negated])
        label, score = model.best(said)
        if label == NOT_FOR_US or score < EMERGENCY_SURE:
            return None
        # It must name the thing too (电梯, 水, 火…; "no electricity" names it): 「车被堵在里面
        # 出不去」 only sounds like a lift.
        if not find_hits(sentence, {label: menu.options[label].keywords.get(sentence.locale, ())}):
            return None
        why = (f"sounds like the emergency examples ({score:.2f})",)
        return Heard(menu.options[label], "emergency", score, emergency=True, why=why)

    def _key(self, node: Node, sentence: Sentence) -> Heard | None:
        """A key said instead of pressed: 「一」, 「按2」, or said twice (「一，我按一」)."""
        said = [_without_key_words(part) for part in ("".join(sentence.parts), *sentence.parts)]
        keys = {SPOKEN_KEYS.get(s) for s in said[1:]}
        key = SPOKEN_KEYS.get(said[0]) or (keys.pop() if len(keys) == 1 else None)
        if key is None or key not in node.options:
            return None
        words = "，".join(sentence.parts)
        return Heard(node.options[key], "key", 1.0, (words,), why=(f"{words!r} is the key {key}",))

    def _keyword(self, node: Node, hits: list[Hit]) -> Heard | None:
        hit = chosen_key(hits, node.speech_priority)
        if hit is None:
            return None
        others = sorted({h.word for h in hits if h.key != hit.key and not h.negated})
        why = [f"keyword {hit.word!r}" + (" (by sound)" if hit.by_sound else "")]
        why += [f"{h.word!r} is negated" for h in hits if h.negated]
        if others:
            why.append(f"{', '.join(others)} lose to it by the menu's priority")
        return Heard(node.options[hit.key], "keyword", 1.0, (hit.word,), why=tuple(why))

    def _example(self, node: Node, sentence: Sentence, text: str, hits: list[Hit]) -> Heard:
        models = self.menus.get(node.name)
        model = models.classifier(text) if models else None
        if model is None or len(normalise(text)) < MIN_GUESS_CHARS:
            return Heard(why=("no keyword of this menu was said",))
        negated = [h for h in hits if h.negated]
        said = sentence.without(negated)
        label, score = model.best(said)
        why = [f"{', '.join(repr(h.word) for h in negated)} negated"] if negated else []
        if label == NOT_FOR_US:
            why.append(f"not for this menu ({score:.2f})")
            return Heard(score=score, out_of_scope=True, why=tuple(why))
        option = node.options[label]
        why.append(f"closest examples: option {label} ({score:.2f})")
        if score >= SURE:
            return Heard(option, "example", score, why=tuple(why))
        if score >= ASK_BACK and option.label and len(normalise(said)) >= MIN_ASK_BACK_CHARS:
            return Heard(option, "example", score, sure=False, why=(*why, "ask back"))
        return Heard(score=score, why=(*why, "too unsure"))


# A yes counts at the start of a clause, after any filler: 「嗯，是的」, not 「这电话是我儿子的」.
TELLING_CHARS = 3
FILLERS = ("嗯", "呃", "哦", "噢", "啊", "唉", "哎", "喂", "那个", "well", "um", "uh", "oh")


def yes_or_no(
    answers: Mapping[str, Mapping[str, Sequence[str]]], sentence: Sentence
) -> tuple[str | None, str]:
    """("yes" | "no" | None, the word that decided). Any denial wins over any yes: a caller
    filed under someone else's home is worse off than one asked again. A yes counts at
    the start of a clause, or anywhere when it says a whole thing (「就是我」); a unit
    named (`elsewhere`) is a no unless a yes was said; `neither` words only keep their
    letters from being read as a yes or a no (对不起 holds no 对). Words of two syllables
    or more match by sound too (布是 is 不是)."""
    said = _answer_words(answers, sentence)
    for group, means in (("no", "no"), ("yes", "yes"), ("elsewhere", "no")):
        for word, answer, start in said:
            if answer == group and (group != "yes" or start == 0 or _telling(word)):
                return means, word
    return None, ""


def _answer_words(
    answers: Mapping[str, Mapping[str, Sequence[str]]], sentence: Sentence
) -> list[tuple[str, str, int]]:
    """(word, its group, where in its clause) for each answer word said; where two
    overlap, the longer (不是 over 是)."""
    words = sorted(
        ((w, group) for group, by in answers.items() for w in by.get(sentence.locale, ())),
        key=lambda pair: -len(pair[0]),
    )
    taken: list[tuple[int, int, int]] = []
    said = []
    for word, group in words:
        for clause in range(len(sentence.parts)):
            opening = _filler_length(sentence.parts[clause], sentence.chinese)
            for start, end, _ in sentence.places(clause, word):
                if any(c == clause and s < end and start < e for c, s, e in taken):
                    continue
                taken.append((clause, start, end))
                said.append((word, group, max(0, start - opening)))
    return said


def _telling(word: str) -> bool:
    """A Chinese yes long enough to mean it anywhere in the sentence: 「房主就是我」."""
    return has_han(word) and len(word) >= TELLING_CHARS


def _filler_length(part: str, chinese: bool) -> int:
    """How much of a clause's start is filler (嗯嗯, "well") before the answer."""
    at = 0
    while True:
        for filler in FILLERS:
            word = filler if chinese else f"{filler} "
            if part.startswith(word, at):
                at += len(word)
                break
        else:
            return at


Trained = tuple[dict[str, MenuModels], MenuModels]
_TRAINED: dict[str, Trained] = {}  # by what the models learn from: once per process
_UNTRAINED: Trained = ({}, MenuModels({}))
_TRAINING = threading.Lock()  # guards the two tables; each flow trains under its own lock
_LOCKS: dict[str, threading.Lock] = {}
_STARTED: set[str] = set()


def _fingerprint(flow: Flow) -> str:
    return hashlib.sha256(repr(_teaching(flow)).encode()).hexdigest()


def _train(flow: Flow, fingerprint: str, cache: Path | None = None) -> None:
    """Train this flow's models once per process, whoever asks first. With a `cache`
    folder (a web process, training in the background): the models one process of this
    host learned are read from there, so a restarted process hears fully at once; the
    first to need them learns them in a child process, so that training (seconds of
    scikit-learn, holding the interpreter lock up to a tenth of a second at a time) never
    slows the webhooks answered meanwhile, and the others wait for its file."""
    with _TRAINING:
        lock = _LOCKS.setdefault(fingerprint, threading.Lock())
    with lock:
        if fingerprint in _TRAINED:
            return
        lessons = _lessons(flow)
        learned = _learn_once(cache, fingerprint, lessons) if cache else learn(lessons)
        _TRAINED[fingerprint] = _assemble(learned)


def _train_in_background(flow: Flow, fingerprint: str, cache: Path | None) -> None:
    with _TRAINING:
        if fingerprint in _TRAINED or fingerprint in _STARTED:
            return
        _STARTED.add(fingerprint)
    threading.Thread(
        target=_train, args=(flow, fingerprint, cache), name="speech-training", daemon=True
    ).start()


def _learn_once(cache: Path, fingerprint: str, lessons: Lessons) -> Learned:
    """The learned models from the host's cache, learning and storing them first when no
    process has yet; processes starting together learn them once, in turn."""
    path = cache / f"models-{MODEL_FORMAT}-{_sklearn_version()}-{fingerprint[:24]}.json"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with (cache / "training.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            stored = _read_models(path)
            if stored is not None:
                return stored
            learned = _learn_in_a_child(lessons) or learn(lessons)
            _write_models(path, learned)
            return learned
    except OSError as failed:
        log.warning("speech models not cached (%s): learned in this process", failed)
        return learn(lessons)


def _sklearn_version() -> str:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _read_models(path: Path) -> Learned | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: {locale: Classifier.from_json(model) for locale, model in models.items()}
            for name, models in raw.items()
        }
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as damaged:
        log.warning("speech model cache %s unreadable (%s): learning again", path, damaged)
        return None


def _write_models(path: Path, learned: Learned) -> None:
    """Whole or not at all: a reader never sees half a file."""
    raw = {
        name: {locale: model.to_json() for locale, model in models.items()}
        for name, models in learned.items()
    }
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


# What the models learn from, as plain data a child process can be handed: per menu (and
# EMERGENCIES for the emergency kinds), per locale, the (sentence, option key) examples.
Lessons = dict[str, dict[str, list[tuple[str, str]]]]
Learned = dict[str, dict[str, Classifier]]
EMERGENCIES = "\0emergencies"  # no menu's name: it cannot clash with one


def _lessons(flow: Flow) -> Lessons:
    lessons: Lessons = {
        name: {locale: _menu_pairs(flow, node, locale) for locale in LOCALES}
        for name, node in flow.nodes.items()
        if node.type == "menu" and any(o.examples for o in node.options.values())
    }
    menu = flow.nodes.get(flow.emergencies or "")
    if menu is not None:
        lessons[EMERGENCIES] = {locale: _emergency_pairs(flow, menu, locale) for locale in LOCALES}
    return lessons


def learn(lessons: Lessons) -> Learned:
    """Every classifier the lessons teach (run here, or in a child process)."""
    learned: Learned = {}
    for name, by_locale in lessons.items():
        models = {locale: train(pairs) for locale, pairs in by_locale.items()}
        learned[name] = {locale: model for locale, model in models.items() if model}
    return learned


def _learn_in_a_child(lessons: Lessons) -> Learned | None:
    """`learn` in a fresh process (spawned, not forked: this one runs threads); None when
    no child can be started here, and the caller learns in this process instead."""
    try:
        context = multiprocessing.get_context("spawn")
        # At the lowest priority: the webhooks and workers of this host come first.
        with ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=os.nice, initargs=(19,)
        ) as pool:
            return pool.submit(learn, lessons).result()
    except (OSError, BrokenProcessPool, RuntimeError) as failed:
        log.warning("speech models trained in this process: no child process (%s)", failed)
        return None


def _assemble(learned: Learned) -> Trained:
    menus = {name: MenuModels(models) for name, models in learned.items() if name != EMERGENCIES}
    return menus, MenuModels(learned.get(EMERGENCIES, {}))


def _teaching(flow: Flow) -> object:
    menus = [
        (name, [(o.key, o.goto, o.examples, o.keywords, o.anywhere) for o in n.options.values()])
        for name, n in flow.nodes.items()
        if n.type == "menu"
    ]
    return (flow.emergencies, flow.not_for_us, menus)


def _examples(option: Option, locale: str) -> list[str]:
    return [*option.examples.get(locale, ()), *option.keywords.get(locale, ())]


def _menu_pairs(flow: Flow, node: Node, locale: str) -> list[tuple[str, str]]:
    pairs = [(t, o.key) for o in node.options.values() for t in _examples(o, locale)]
    return pairs + [(t, NOT_FOR_US) for t in flow.not_for_us.get(locale, ())]


def _emergency_pairs(flow: Flow, menu: Node, locale: str) -> list[tuple[str, str]]:
    """Emergency kinds against everything else the flow's menus are told."""
    pairs = [
        (t, o.key)
        for o in menu.options.values()
        for t in (*o.examples.get(locale, ()), *o.anywhere.get(locale, ()))
    ]
    pairs += [
        (t, NOT_FOR_US)
        for other in flow.nodes.values()
        if other.type == "menu" and other.name != menu.name
        for o in other.options.values()
        if o.goto != menu.name
        for t in o.examples.get(locale, ())
    ]
    return pairs + [(t, NOT_FOR_US) for t in flow.not_for_us.get(locale, ())]


HINTS_PER_OPTION = 8


def speech_hints(node: Node, locale: str) -> str:
    """Keywords for Twilio's recogniser, in the caller's language: the first few of each
    option, by the node's priority (a long hint list only slows recognition down)."""
    words = [
        w
        for key in node.speech_priority
        for w in node.options[key].keywords.get(locale, ())[:HINTS_PER_OPTION]
    ]
    return ", ".join(words)


def _whole_sentence(sentence: Sentence) -> bool:
    if sentence.chinese:
        return sum(len(part) for part in sentence.parts) >= MIN_EMERGENCY_CHARS
    return sum(len(part.split()) for part in sentence.parts) >= MIN_EMERGENCY_WORDS
