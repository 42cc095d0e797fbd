"""`ivr run` on a fresh data folder: gunicorn, an RQ worker and an embedded Redis, for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from ivr.voice.twiml import SignatureChecker
from tests.processes import free_port, session_processes, wait_for
from tests.twilio_fake import call_params, parse_twiml

T = TypeVar("T")

TOKEN = "run-command-test-token"
API_TOKEN = "run-command-api-token"


def hotline_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "PUBLIC_BASE_URL", "IVR_TRUSTED_PROXIES"}
    }
    env.update(IVR_DATA_DIR=str(tmp_path / "var"), TWILIO_AUTH_TOKEN=TOKEN, IVR_API_TOKEN=API_TOKEN)
    env["BUSINESS_HOURS"] = "00:00-23:59"  # the real clock runs here: keep the office open
    return env


IVR = Path(sys.executable).with_name("ivr")


@pytest.fixture
def hotline(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = hotline_env(tmp_path)
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [str(IVR), "run", "--port", str(port), "--workers", "2", "--web-workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok or None, 60, "/healthz")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        print((tmp_path / "run.log").read_text())


def post_signed(base: str, path: str, params: dict[str, str]) -> requests.Response:
    signature = SignatureChecker(TOKEN).sign(base + path, params)
    return requests.post(
        base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=5
    )


def test_ivr_run_answers_and_logs_a_call(hotline: str) -> None:
    greeting = parse_twiml(post_signed(hotline, "/voice/incoming", call_params("CArun1")).text)
    assert greeting[0].text == "您好，幸福家园物业客服中心，很高兴为您服务。"
    step = greeting[1].attrs["action"]
    assert post_signed(hotline, step, call_params("CArun1", Digits="0")).status_code == 200
    status = call_params("CArun1", CallStatus="completed", CallDuration="21")
    assert post_signed(hotline, "/voice/status", status).status_code == 200
    assert (
        requests.post(
            f"{hotline}/voice/incoming", data=call_params("CArun2"), timeout=5
        ).status_code
        == 403
    )

    def logged() -> dict[str, Any] | None:
        response = requests.get(
            f"{hotline}/api/calls/CArun1",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=2,
        )
        body: dict[str, Any] = response.json()
        # Two workers store the call's three webhooks in any order: wait for all of them.
        whole = response.ok and body["status"] == "completed" and body["queue"] is not None
        return body if whole else None

    call = wait_for(logged, 30, "the worker to write the call log")
    assert (call["outcome"], call["queue"], call["duration_s"]) == ("transferred", "general", 21)


def ready(base: str) -> dict[str, Any] | None:
    response = requests.get(f"{base}/readyz", timeout=2)
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 else None


def all_workers(base: str, count: int) -> dict[str, Any] | None:
    body = ready(base)
    return body if body and body["checks"]["workers"] == count else None


def test_ivr_run_replaces_killed_children_and_refuses_a_second_run(
    hotline: str, tmp_path: Path
) -> None:
    both = wait_for(lambda: all_workers(hotline, 2), 60, "/readyz to see both workers")
    assert both["problems"] == []

    second = subprocess.run(
        [str(IVR), "run", "--port", str(free_port())],
        env=hotline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert "is already running from" in second.stderr
    assert requests.get(f"{hotline}/healthz", timeout=2).ok  # the first is unharmed

    session = os.getsid(session_processes_owner(tmp_path))
    markers = ("-m worker worker", "-m worker scheduler", "-m worker cron")
    killed = {pid for marker in markers for pid in session_processes(session, marker)}
    assert len(killed) == 4
    for pid in killed:
        os.kill(pid, signal.SIGKILL)

    def replaced() -> bool | None:
        now = {pid for marker in markers for pid in session_processes(session, marker)}
        return True if len(now) == 4 and not now & killed else None

    wait_for(replaced, 30, "supervisord to start new workers, scheduler and cron")
    # A killed worker stays listed until its key expires (RQ: its TTL + 60 s).
    wait_for(lambda: all_workers(hotline, 2), 180, "the workers, scheduler and cron to be back")
    test_ivr_run_answers_and_logs_a_call(hotline)


def session_processes_owner(tmp_path: Path) -> int:
    """The `ivr run` process, from the data folder's lock file."""
    return int((tmp_path / "var" / "ivr-run.lock").read_text().strip())
