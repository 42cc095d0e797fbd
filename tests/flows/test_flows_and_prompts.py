"""The flow and the prompts are data, checked the way start-up checks them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ivr.callbacks.calls import CALLBACK, OUTBOUND_CALLS, check_outbound_flow
from ivr.config import PROJECT_ROOT
from ivr.core.prompts import PromptError, load_catalogue, load_catalogues
from ivr.flows import FlowError, default_flow_path, flow_path, load_flow, validate_flow
from ivr.flows.mermaid import flow_to_mermaid

PROMPTS = PROJECT_ROOT / "prompts"


def test_every_locale_has_the_same_prompt_keys() -> None:
    zh = yaml.safe_load((PROMPTS / "zh-CN.yaml").read_text(encoding="utf-8"))["prompts"]
    en = yaml.safe_load((PROMPTS / "en-US.yaml").read_text(encoding="utf-8"))["prompts"]
    assert sorted(zh) == sorted(en)


def test_the_shipped_flow_is_valid_in_every_locale() -> None:
    catalogues = load_catalogues(PROMPTS)
    assert sorted(catalogues) == ["en-US", "zh-CN"]
    validate_flow(load_flow(default_flow_path()), catalogues)


def test_the_outbound_calls_flows_are_valid_in_every_locale() -> None:
    catalogues = load_catalogues(PROMPTS)
    assert [call.name for call in OUTBOUND_CALLS] == ["callback", "survey", "alert"]
    for call in OUTBOUND_CALLS:
        check_outbound_flow(call, catalogues)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"nodes.briefing.intro": ["callback.agent.{why}"]}, "names ['why'], which the flow"),
        ({"nodes.why_we_call.prompts": ["callback.caller.{src}"]}, "'callback.caller.asked'"),
        ({"nodes.ring_resident.whisper": "talked"}, "'talked', which is not a whisper node"),
        ({"nodes.ring_resident.path": None}, "ring_resident: a connect node needs 'path'"),
        ({"nodes.why_we_call.path": "/voice/callback/dialed"}, "is also 'ring_resident'"),
        ({"nodes.not_reached.cases": {"yes": "nowhere"}}, "last_try=yes goes to unknown node"),
        ({"words.unit_label": {"otherwise": "x"}}, "word 'unit_label': a catalogue key, or"),
    ],
)
def test_a_broken_callback_flow_fails_validation(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    catalogues = load_catalogues(PROMPTS)
    _flow_with(tmp_path, change, flow_path("callback")).rename(tmp_path / "callback.yaml")
    with pytest.raises(FlowError) as failure:
        check_outbound_flow(CALLBACK, catalogues, folder=tmp_path)
    assert problem in str(failure.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"nodes.rate.input": "keys"}, "rate: input must be one of"),
        ({"nodes.rate.path": "/elsewhere"}, "rate: path '/elsewhere' is not a /voice/ webhook"),
        ({"nodes.rate.options.3": "nowhere"}, "rate: 3 goes to unknown node 'nowhere'"),
    ],
)
def test_a_broken_survey_flow_fails_validation(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    catalogues = load_catalogues(PROMPTS)
    path = _flow_with(tmp_path, change, flow_path("survey"))
    with pytest.raises(FlowError) as failure:
        validate_flow(load_flow(path), catalogues)
    assert problem in str(failure.value)


def test_greeting_and_closing_follow_the_manual() -> None:
    """R2: the standard greeting and closing, and no impolite words anywhere."""
    zh = load_catalogues(PROMPTS)["zh-CN"]
    assert zh.prompts["main.greeting"].text == "您好，{hotline_name}客服中心，很高兴为您服务。"
    assert zh.prompts["system.goodbye"].text == "谢谢您的来电，我们会尽快答复，再见！"
    assert zh.prompts["complaint.apology"].text.startswith("对不起")
    for prompt in zh.prompts.values():
        assert "喂" not in prompt.text
        assert "哎" not in prompt.text


def test_mandarin_voice_settings() -> None:
    voice = load_catalogues(PROMPTS)["zh-CN"].voice
    assert (voice.say_voice, voice.say_language, voice.gather_language) == (
        "Polly.Zhiyu",
        "cmn-CN",
        "cmn-Hans-CN",
    )


def _write_prompts(folder: Path, extra: dict[str, str] | None = None) -> None:
    source = yaml.safe_load((PROMPTS / "zh-CN.yaml").read_text(encoding="utf-8"))
    source["prompts"].update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zh-CN.yaml").write_text(yaml.safe_dump(source, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"main.greeting": "您好，{company}"}, "unknown placeholders ['company']"),
        ({"main.greeting": ""}, "needs a non-empty text"),
    ],
)
def test_bad_prompts_stop_start_up(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    _write_prompts(tmp_path, extra)
    with pytest.raises(PromptError, match=re.escape(message)):
        load_catalogue(tmp_path / "zh-CN.yaml")


def test_prompt_audio_must_exist(tmp_path: Path) -> None:
    source = yaml.safe_load((PROMPTS / "zh-CN.yaml").read_text(encoding="utf-8"))
    source["prompts"]["main.greeting"] = {"text": "您好", "audio": "greeting.mp3"}
    (tmp_path / "zh-CN.yaml").write_text(
        yaml.safe_dump(source, allow_unicode=True), encoding="utf-8"
    )
    with pytest.raises(PromptError, match=r"missing audio file 'greeting\.mp3'"):
        load_catalogue(tmp_path / "zh-CN.yaml")
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "greeting.mp3").write_bytes(b"ID3")
    assert load_catalogue(tmp_path / "zh-CN.yaml").prompts["main.greeting"].audio == "greeting.mp3"


def test_a_locale_missing_a_key_is_refused(tmp_path: Path) -> None:
    for name in ("zh-CN", "en-US"):
        data = yaml.safe_load((PROMPTS / f"{name}.yaml").read_text(encoding="utf-8"))
        if name == "en-US":
            del data["prompts"]["system.goodbye"]
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(PromptError, match=r"en-US: missing prompts \['system.goodbye'\]"):
        load_catalogues(tmp_path)


def _flow_with(tmp_path: Path, change: dict[str, object], base: Path | None = None) -> Path:
    data = yaml.safe_load((base or default_flow_path()).read_text(encoding="utf-8"))
    data.pop("examples_from", None)  # what is broken here is the flow, not its examples
    for dotted, value in change.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"nodes.main_menu.options.1": {"goto": "nowhere"}},
            "main_menu: 1 goes to unknown node 'nowhere'",
        ),
        (
            {"nodes.main_menu.retries": 0},
            "main_menu: a menu node needs a retry limit of at least 1",
        ),
        ({"nodes.main_menu.exhausted": None}, "main_menu: a menu node needs 'exhausted'"),
        ({"nodes.welcome.prompts": ["main.nothing"]}, "prompt 'main.nothing' is missing in zh-CN"),
        ({"nodes.goodbye.type": "sing"}, "node 'goodbye': type must be one of"),
        ({"nodes.lonely": {"type": "hangup"}}, "lonely: unreachable from 'welcome'"),
        (
            {"nodes.repair.next": "repair"},
            "repair -> repair: loops without asking the caller anything",
        ),
        (
            {"nodes.main_menu.options.7": {"goto": "repair", "category": "gossip"}},
            "unknown category 'gossip'",
        ),
        ({"nodes.main_menu.options.12": "repair"}, "option '12' is not a single keypad key"),
        ({"start": "nowhere"}, "start node 'nowhere' does not exist"),
        (
            {"nodes.main_menu.options": {"*": "repeat"}},
            "main_menu: a menu needs at least one way out",
        ),
        # The speech data
        ({"emergencies": "welcome"}, "emergencies names 'welcome', which is not a menu"),
        (
            {"nodes.main_menu.options.1.anywhere": {"zh-CN": ["着火"]}},
            "main_menu: option 1: anywhere phrases off the emergency menu",
        ),
        (
            {"nodes.confirm_unit.options.1.means": "maybe"},
            "confirm_unit: option 1 means 'maybe', not yes or no",
        ),
        (
            {"nodes.main_menu.options.1.label": {"zh-CN": "报修"}},
            "main_menu: option 1 has examples but no label in every locale",
        ),
        (
            {"nodes.main_menu.options.1.examples": {"fr-FR": ["réparer"], "zh-CN": ["修"]}},
            "main_menu: option 1 has examples for unknown locale fr-FR",
        ),
        ({"answers.no": {"zh-CN": ["不是"]}}, "answers: no 'no' words for en-US"),
        ({"answers.perhaps": {"zh-CN": ["也许"]}}, "answers: 'perhaps' is not one of"),
        ({"nodes.main_menu.options.1.examples": "修"}, "a list of phrases per locale"),
    ],
)
def test_broken_flows_fail_validation(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    catalogues = load_catalogues(PROMPTS)
    with pytest.raises(FlowError) as failure:
        validate_flow(load_flow(_flow_with(tmp_path, change)), catalogues)
    assert problem in str(failure.value)


@pytest.mark.parametrize(
    ("examples", "problem"),
    [
        ({"zh-CN": {"nowhere": {"repair": ["修"]}}}, "'nowhere' is no menu of the flow"),
        ({"zh-CN": {"welcome": {"repair": ["修"]}}}, "'welcome' is no menu of the flow"),
        ({"zh-CN": {"main_menu": {"gossip": ["聊天"]}}}, "main_menu has no option 'gossip'"),
        ({"zh-CN": {"confirm_unit": {"yes": ["对"]}}}, "yes and no are answers"),
        ({"zh-CN": {"main_menu": {"emergency.flood": ["水"]}}}, "has no option 'flood'"),
        ({"zh-CN": {"main_menu": {"repair": "修"}}}, "zh-CN main_menu repair: a list of sentences"),
        ({"zh-CN": ["修"]}, "expected a mapping"),
    ],
)
def test_a_broken_examples_file_fails_at_start_up(
    tmp_path: Path, examples: dict[str, object], problem: str
) -> None:
    (tmp_path / "more.yaml").write_text(yaml.safe_dump(examples, allow_unicode=True))
    flow = _flow_with(tmp_path, {"examples_from": "more.yaml"})
    with pytest.raises(FlowError) as failure:
        load_flow(flow)
    assert problem in str(failure.value)


def test_an_examples_file_teaches_the_option_it_names() -> None:
    flow = load_flow(default_flow_path())
    repair = flow.node("main_menu").options["1"]
    gas = flow.node("emergency_menu").options["4"]
    assert "我家暖气片不热，摸着冰凉冰凉的，能不能派个人来看看" in repair.examples["zh-CN"]
    assert "有股气味儿，像煤气" in gas.examples["zh-CN"]  # said at the emergency menu
    assert "喂，你好，这是哪儿啊" in flow.not_for_us["zh-CN"]


def test_mermaid_diagram_draws_every_node_and_edge() -> None:
    catalogues = load_catalogues(PROMPTS)
    flow = load_flow(default_flow_path())
    diagram = flow_to_mermaid(flow, catalogues, "zh-CN")
    lines = diagram.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    main_menu -->|1| repair" in lines
    assert "    main_menu -->|*| main_menu" in lines
    assert "    person -->|closed| after_hours_message" in lines
    assert '    general_queue[["general_queue<br/>queue: general"]]' in lines
    edges = sum(1 for _ in (t for node in flow.nodes.values() for t in node.targets()))
    assert sum("-->" in line for line in lines) == edges


def test_the_readme_shows_the_current_flow() -> None:
    """`ivr flows --mermaid` output is pasted into the README; keep them in step."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    diagram = flow_to_mermaid(load_flow(default_flow_path()), load_catalogues(PROMPTS), "zh-CN")
    assert f"```mermaid\n{diagram}```" in readme
