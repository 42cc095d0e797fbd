"""The `ivr call` command: a call placed from the terminal, or one answered there."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from ivr.core.clock import Clock, SystemClock
from ivr.outbound.telephony import CALLS_FILE, CallLineKind, SimulatedCall, SimulatedCallsFile
from ivr.sim.answered import AnsweredCall, waiting_call
from ivr.sim.caller import CallerInput, KeyboardCaller, ScriptedCaller
from ivr.sim.phone import ACCOUNT_SID, CallSummary, PhoneCall
from ivr.sim.transcript import Transcript, find_espeak
from ivr.sim.transport import HotlineError, HttpTransport, NothingToAnswerError, Transport
from ivr.voice.twiml import SignatureChecker


def call_from_terminal(
    url: str,
    caller: str,
    speak: bool = False,
    scripted: str | Sequence[str] | None = None,
    public_url: str | None = None,
    *,
    transport: Transport | None = None,
    auth_token: str | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CallSummary:
    """Phone the hotline at `url`, print the transcript, and say plainly if the call failed.

    Signs with the server's token (TWILIO_AUTH_TOKEN, or the development token file)
    for `public_url` when the server has a PUBLIC_BASE_URL, else for `url` itself.
    """
    from ivr.config import load_settings

    settings = load_settings()
    line = transport or HttpTransport()
    call = PhoneCall(
        url,
        caller,
        line,
        SignatureChecker(auth_token or settings.twilio_auth_token),
        _caller_input(scripted),
        Transcript(out, find_espeak() if speak else None),
        public_url=public_url,
        hotline_number=settings.hotline_number,
        account_sid=settings.twilio_account_sid or ACCOUNT_SID,
        calls_file=SimulatedCallsFile(settings.data_dir / CALLS_FILE),
        sleep=sleep,
    )
    return _place(call, line, close=transport is None)


def answer_from_terminal(
    url: str,
    sid: str = "",
    to: str = "",
    decline: bool = False,
    speak: bool = False,
    scripted: str | Sequence[str] | None = None,
    public_url: str | None = None,
    *,
    transport: Transport | None = None,
    auth_token: str | None = None,
    out: TextIO | None = None,
    clock: Clock | None = None,
) -> CallSummary:
    """Pick up a call the hotline placed (`ivr call --answer`) and print the transcript.

    The call is marked answered (or declined) in the calls file as it rings, so the next
    `--answer` picks the next call.
    """
    from ivr.config import load_settings

    settings = load_settings()
    calls = SimulatedCallsFile(settings.data_dir / CALLS_FILE)
    try:
        placed = waiting_call(calls, sid, to)
    except NothingToAnswerError as exc:
        print(f"nothing to answer: {exc}", file=sys.stderr, flush=True)
        return CallSummary(call_sid=sid, ended_by="error", problem=str(exc))
    picked_up = CallLineKind.DECLINED if decline else CallLineKind.ANSWERED
    now = (clock or SystemClock()).now().isoformat()
    line = transport or HttpTransport()
    call = AnsweredCall(
        placed,
        url,
        line,
        SignatureChecker(auth_token or settings.twilio_auth_token),
        _caller_input(scripted),
        Transcript(out, find_espeak() if speak else None),
        public_url=public_url,
        account_sid=settings.twilio_account_sid or ACCOUNT_SID,
        decline=decline,
        on_ringing=lambda: calls.append(SimulatedCall(picked_up, placed.sid, now)),
    )
    return _place(call, line, close=transport is None)


def _place(call: PhoneCall, line: Transport, close: bool) -> CallSummary:
    try:
        return call.run()
    except HotlineError as exc:
        print(f"call failed: {exc}", file=sys.stderr, flush=True)
        call.summary.ended_by, call.summary.problem = "error", str(exc)
        return call.summary
    finally:
        if close and isinstance(line, HttpTransport):
            line.close()


def _caller_input(scripted: str | Sequence[str] | None) -> CallerInput:
    if scripted is None:
        return KeyboardCaller()
    if isinstance(scripted, str):
        return ScriptedCaller.from_text(scripted)
    return ScriptedCaller(scripted)
