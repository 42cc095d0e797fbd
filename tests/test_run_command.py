"""`ivr run` on a fresh data folder: gunicorn, an RQ worker and an embedded Redis, for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from ivr.twiml import SignatureChecker
from tests.twilio_fake import call_params, parse_twiml

T = TypeVar("T")

TOKEN = "run-command-test-token"
API_TOKEN = "run-command-api-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], T | None], seconds: float, what: str) -> T:
    """Waits for a real subprocess to get somewhere: bounded, and fails loudly."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except requests.RequestException:
            found = None
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def hotline(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "PUBLIC_BASE_URL", "IVR_TRUSTED_PROXIES"}
    }
    env.update(IVR_DATA_DIR=str(tmp_path / "var"), TWILIO_AUTH_TOKEN=TOKEN, IVR_API_TOKEN=API_TOKEN)
    env["BUSINESS_HOURS"] = "00:00-23:59"  # the real clock runs here: keep the office open
    ivr = Path(sys.executable).with_name("ivr")
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [str(ivr), "run", "--port", str(port), "--workers", "2"],
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
        return body if response.ok and body["status"] == "completed" else None

    call = wait_for(logged, 30, "the worker to write the call log")
    assert (call["outcome"], call["queue"], call["duration_s"]) == ("transferred", "general", 21)
