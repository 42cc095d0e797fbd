"""How well the hotline's menus understand speech, beside the keyword matcher it replaced.

    .venv/bin/python -m bench.speech_bench [--corpus tests/speech/held_out.yaml] [--misses]

For each labelled sentence of the corpus (default: the held-out part, which no example in
the flow data repeats): what the listener heard, whether that was right at once, whether
the caller got there (right, or asked back about the right option), and how long deciding
took. The baseline is the matcher before it: keyword substrings in a fixed order, no
negations, no sounds, no examples, emergencies only at the emergency menu.
Prints a markdown report: accuracy per menu and language, a confusion matrix of the
main menu, and the per-sentence latency.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ivr.flows import default_flow_path, load_flow
from ivr.flows.definition import Flow, Node
from ivr.flows.speech import Listener, normalise
from ivr.flows.speech.corpus import NONE, Judged, Report, judge, load_corpus
from ivr.flows.speech.listener import Heard
from ivr.flows.speech.text import syllables

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "speech" / "held_out.yaml"
DEV = CORPUS.with_name("dev.yaml")
_OLD_KEYS = {"1": "1", "一": "1", "2": "2", "二": "2", "3": "3", "三": "3", "0": "0"}


class KeywordBaseline:
    """The matcher the listener replaced: the first option, in priority order, one of
    whose keywords is a substring of the sentence."""

    def hear(self, node: Node, locale: str, text: str) -> Heard:
        said = normalise(text)
        key = _OLD_KEYS.get(said, "")
        if key in node.options:
            return Heard(node.options[key], "key", 1.0)
        for key in node.speech_priority:
            option = node.options[key]
            words = [normalise(w) for ws in option.keywords.values() for w in ws]
            if any(word and word in said for word in words):
                return Heard(option, "keyword", 1.0, emergency=bool(option.set.get("emg")))
        return Heard()


OLD_ANSWERS: dict[str, dict[str, tuple[str, ...]]] = {
    "yes": {"zh-CN": ("是", "对", "确认"), "en-US": ("yes", "right", "correct")},
    "no": {"zh-CN": ("不是", "不对"), "en-US": ("no", "wrong")},
}


def _old_keywords(flow: Flow) -> Flow:
    """Yes and no as the old flow had them: keywords, the yes option first."""
    nodes = {}
    for name, node in flow.nodes.items():
        options = {
            key: replace(option, keywords=OLD_ANSWERS[option.means], means=None)
            if option.means
            else option
            for key, option in node.options.items()
        }
        nodes[name] = replace(node, options=options)
    return replace(flow, nodes=nodes)


def _rows(report: Report, baseline: Report) -> Iterator[str]:
    yield "| language | menu | sentences | right at once | reached (with ask-back) | baseline |"
    yield "|---|---|---|---|---|---|"
    for locale, group in sorted(report.tallies):
        mine, old = report.tallies[(locale, group)], baseline.tallies[(locale, group)]
        yield (
            f"| {locale} | {group} | {mine.total} | {mine.rate(mine.right):.1f}% "
            f"| {mine.rate(mine.routed):.1f}% | {old.rate(old.right):.1f}% |"
        )
    whole, old = report.total(), baseline.total()
    yield (
        f"| **all** | | {whole.total} | **{whole.rate(whole.right):.1f}%** "
        f"| {whole.rate(whole.routed):.1f}% | {old.rate(old.right):.1f}% |"
    )


def _confusion(report: Report, menu: str) -> Iterator[str]:
    cells = {(e, h): n for (m, e, h), n in report.confusion.items() if m == menu}
    expected = sorted({e for e, _ in cells})
    heard = sorted({h for _, h in cells})
    yield "| said \\ heard | " + " | ".join(heard) + " |"
    yield "|---" * (len(heard) + 1) + "|"
    for e in expected:
        yield f"| {e} | " + " | ".join(str(cells.get((e, h), "")) for h in heard) + " |"


def _denials_taken_as_yes(report: Report) -> int:
    """The error that files a caller under someone else's home."""
    return sum(
        n for (menu, said, heard), n in report.confusion.items() if said == "no" and heard == "yes"
    )


def _misses(judged: list[Judged]) -> Iterator[str]:
    for one in judged:
        if not one.right:
            option = one.heard.option
            got = option.goto if option else NONE
            asked = "" if one.heard.sure else " (asked back)"
            where = f"{one.sample.locale} {one.sample.menu}"
            yield f"- [{where}] {one.sample.text}: meant {one.sample.label}, heard {got}{asked}"


def _warm_up(flow: Flow, listener: Listener, corpus: Path) -> None:
    """A running hotline has heard sentences before: hear the other corpus once, then
    forget the sentences' syllables so none of the measured ones is remembered."""
    other = DEV if corpus.resolve() != DEV.resolve() else CORPUS
    for _ in judge(flow, listener, load_corpus(other)):
        pass
    syllables.cache_clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--misses", action="store_true", help="list the sentences missed")
    parser.add_argument("--flow", type=Path, default=None, help="a flow file other than main")
    args = parser.parse_args(argv)
    flow = load_flow(args.flow or default_flow_path())
    samples = load_corpus(args.corpus)
    started = time.perf_counter()
    listener = Listener(flow)
    trained_s = time.perf_counter() - started
    _warm_up(flow, listener, args.corpus)
    judged = list(judge(flow, listener, samples))
    report = Report.of(iter(judged), flow)
    old_flow = _old_keywords(flow)
    baseline = Report.of(judge(old_flow, KeywordBaseline(), samples), old_flow)
    print(f"# Speech understanding: {args.corpus.name}, {len(samples)} sentences\n")
    print("\n".join(_rows(report, baseline)))
    print(f"\nDenials heard as a yes: {_denials_taken_as_yes(report)} (must be 0).")
    print("\n## Main menu: what was said (rows) and heard (columns)\n")
    print("\n".join(_confusion(report, "main_menu")))
    print("\n## Deciding one sentence\n")
    print("| | listener | baseline |\n|---|---|---|")
    for name, q in (("median", 0.5), ("p99", 0.99), ("max", 1.0)):
        print(f"| {name} | {report.percentile_ms(q):.3f} ms | {baseline.percentile_ms(q):.3f} ms |")
    print(f"\nTraining at start-up: {trained_s:.2f} s (once per process).")
    if args.misses:
        print("\n## Missed\n")
        print("\n".join(_misses(judged)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
