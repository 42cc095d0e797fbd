"""The learned speech models are shared by the host's web processes: one learns them in a
low-priority child process and stores them; a process started later (a restarted web
worker) reads them at once instead of training again; a damaged file is learned again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.speech import listener
from ivr.flows.speech.classifier import Classifier

LESSONS: listener.Lessons = {
    "main_menu": {
        "zh-CN": [
            ("我要报修", "1"),
            ("水管坏了", "1"),
            ("我要投诉", "2"),
            ("保安态度差", "2"),
            ("订外卖", ""),
        ],
        "en-US": [("repair please", "1"), ("broken tap", "1"), ("complaint", "2")],
    }
}


def scores(learned: listener.Learned) -> dict[str, float]:
    return learned["main_menu"]["zh-CN"].scores("厨房水管坏了")


def test_a_classifier_survives_its_file() -> None:
    model = listener.learn(LESSONS)["main_menu"]["zh-CN"]
    again = Classifier.from_json(model.to_json())
    assert again == model
    with pytest.raises(ValueError, match="rows do not match"):
        Classifier.from_json({**model.to_json(), "bias": [0.0]})


def test_the_child_learns_what_this_process_would() -> None:
    here = listener.learn(LESSONS)
    child = listener._learn_in_a_child(LESSONS)
    assert child is not None
    assert scores(child) == pytest.approx(scores(here))


def test_a_second_process_reads_what_the_first_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = listener._learn_once(tmp_path, "f" * 64, LESSONS)
    [stored] = tmp_path.glob("models-*.json")
    assert stored.name.endswith("ffffffffffffffffffffffff.json")

    def no_training(lessons: listener.Lessons) -> listener.Learned:
        raise AssertionError("trained again instead of reading the file")

    monkeypatch.setattr(listener, "learn", no_training)
    monkeypatch.setattr(listener, "_learn_in_a_child", no_training)
    second = listener._learn_once(tmp_path, "f" * 64, LESSONS)
    assert scores(second) == pytest.approx(scores(first))


def test_a_damaged_file_is_learned_again(tmp_path: Path) -> None:
    first = listener._learn_once(tmp_path, "a" * 64, LESSONS)
    [stored] = tmp_path.glob("models-*.json")
    stored.write_text('{"main_menu": {"zh-CN": {"labels"', encoding="utf-8")
    again = listener._learn_once(tmp_path, "a" * 64, LESSONS)
    assert scores(again) == pytest.approx(scores(first))
    assert listener._read_models(stored) is not None  # written whole again


def test_an_unwritable_cache_still_hears(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    learned = listener._learn_once(blocked, "b" * 64, LESSONS)
    assert set(learned["main_menu"]) == {"zh-CN", "en-US"}
