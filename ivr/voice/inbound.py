"""Twilio voice webhooks: read the request, ask the engine, hand events on, return TwiML.

Nothing here touches SQL or waits on anything slow. Every request is checked
against `X-Twilio-Signature` first; any failure after that still answers with
TwiML (the apology and message path), never a 500 and never silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from werkzeug.exceptions import HTTPException

from ivr.core.events import CallEvent, EventKind
from ivr.flows.engine import Caller, CallState, QueueWait, Recording, Turn
from ivr.flows.speech import clean_digits, clean_speech
from ivr.services import Services, services
from ivr.voice import fields
from ivr.voice.twiml import SignatureChecker, render

log = logging.getLogger(__name__)

voice = Blueprint("voice", __name__, url_prefix="/voice")

MAX_SEQUENCE = 10**8 - 1  # eight digits, as the status key always kept
FALLBACK_PATH = "/voice/fallback?stage=recorded"


@dataclass(frozen=True)
class VoiceEdge:
    """What only the webhooks need, made once at start-up: Twilio's signature check, and
    the TwiML that answers when anything else fails (rendered ahead, so it cannot fail)."""

    signatures: SignatureChecker
    fallback_twiml: str

    @classmethod
    def build(cls, found: Services) -> VoiceEdge:
        fallback = render(found.engine.fallback(FALLBACK_PATH))
        return cls(SignatureChecker(found.settings.twilio_auth_token), fallback)


def init_voice(app: Flask) -> None:
    app.extensions["ivr.voice"] = VoiceEdge.build(app.extensions["ivr"])
    app.register_blueprint(voice)


def edge() -> VoiceEdge:
    found: VoiceEdge = current_app.extensions["ivr.voice"]
    return found


def twiml(xml: str) -> Response:
    return Response(xml, mimetype="text/xml")


def public_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL (or the host a trusted proxy names), the path,
    and the query string exactly as it arrived (percent-encoded, as Twilio signed it)."""
    base = services().settings.public_base_url or f"{request.scheme}://{request.host}"
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@voice.before_request
def check_signature() -> None:
    g.started = time.perf_counter()
    signature = request.headers.get("X-Twilio-Signature", "")
    settings_header = request.headers.get("X-Twilio-Webhooks-Signature-Settings", "")
    if not edge().signatures.is_genuine(public_url(), request.form, signature, settings_header):
        log.warning(
            "rejected %s %s from %s: %s signature",
            request.method,
            request.path,
            request.remote_addr,
            "bad" if signature else "no",
        )
        abort(403)


@voice.errorhandler(Exception)
def answer_anyway(error: Exception) -> Response | HTTPException:
    """A bug must not become a silent call: apologise and take a message."""
    if isinstance(error, HTTPException):
        return error
    log.exception("voice webhook %s failed; answering with the fallback", request.path)
    return twiml(edge().fallback_twiml)


def _elapsed_ms() -> float:
    started: float = g.started
    return round((time.perf_counter() - started) * 1000, 3)


def _log_events(events: list[CallEvent]) -> None:
    if not events or not events[0].call_sid:
        return
    try:
        services().sink.record(events)
    except Exception:  # the caller must hear us even if the call log cannot keep up
        log.exception("could not hand %d events to the call log", len(events))


def _answer(turn: Turn) -> Response:
    xml = render(turn.verbs)
    for event in turn.events:
        if event.kind == EventKind.GREETED:
            event.detail["response_ms"] = _elapsed_ms()
    _log_events(turn.events)
    return twiml(xml)


def _seconds_waited() -> int:
    """Twilio's QueueTime: how long this caller has been in the queue."""
    return fields.count(request.form, "QueueTime", limit=24 * 3600)


def _count(raw: str | None) -> int:
    return fields.bounded_count(raw)


def _state(args: Mapping[str, str]) -> CallState:
    engine = services().engine
    locale = args.get("lang", "")
    if locale not in engine.catalogues:
        locale = services().settings.default_locale
    remembered = CallState.remembered_from(args, engine.seal)
    if remembered is None:
        # Nearly always hosts with different keys behind one number: each call that
        # crosses between them starts its menu again, so say where to look.
        log.warning(
            "call state in an action URL was sealed with another key; every web host"
            " needs the same SECRET_KEY (or IVR_STATE_KEY): the call starts its menu again"
        )
    return CallState(
        # State we cannot open (a changed key, say): start the menu again, politely.
        node=args.get("node", "") if remembered is not None else "",
        locale=locale,
        seq=_count(args.get("seq")),
        no_input=_count(args.get("ni")),
        no_match=_count(args.get("nm")),
        data=remembered or (),
    )


def _call_sid() -> str:
    return fields.text(request.form, "CallSid", 64)


def _caller() -> Caller:
    return Caller(_call_sid(), fields.text(request.form, "From", 32))


def _call_details() -> dict[str, str]:
    form = request.form
    return {
        "from": fields.text(form, "From", 32),
        "to": fields.text(form, "To", 32),
        "caller_name": fields.text(form, "CallerName", 128),
        "direction": fields.text(form, "Direction", 32),
        "forwarded_from": fields.text(form, "ForwardedFrom", 32),
    }


@voice.post("/incoming")
def incoming() -> Response:
    return _answer(services().engine.answer(_caller(), _call_details()))


@voice.post("/step")
def step() -> Response:
    reply = fields.reply(request.form)
    return _answer(services().engine.step(_caller(), _state(request.args), reply))


def _queue_wait() -> QueueWait:
    form = request.form
    waited = _seconds_waited()
    return QueueWait(
        waited_s=waited, position=max(fields.count(form, "QueuePosition", limit=10_000), 1)
    )


@voice.post("/queue/wait")
def queue_wait() -> Response:
    return twiml(render(services().engine.queue_wait(_state(request.args), _queue_wait())))


@voice.post("/queue/choice")
def queue_choice() -> Response:
    digits = clean_digits(request.form.get("Digits", ""))
    return _answer(
        services().engine.queue_choice(_caller(), _state(request.args), _queue_wait(), digits)
    )


@voice.post("/queue/result")
def queue_result() -> Response:
    result = fields.text(request.form, "QueueResult", 32) or "unknown"
    waited = _seconds_waited()
    return _answer(services().engine.queue_result(_caller(), _state(request.args), result, waited))


@voice.post("/message")
def message() -> Response:
    return _answer(services().engine.recorded(_caller(), _state(request.args), _recording()))


@voice.post("/dialed")
def dialed() -> Response:
    """The on-call ladder: Twilio tells us whether the engineer answered."""
    status = fields.text(request.form, "DialCallStatus", 32) or "failed"
    # An engineer who answered but did not take the call at the briefing was not bridged.
    bridged = fields.text(request.form, "DialBridged", 8).lower() != "false"
    return _answer(services().engine.dialed(_caller(), _state(request.args), status, bridged))


def _resident_call() -> Caller:
    """The engineer's leg of the on-call <Dial>: its events belong to the resident's call
    (Twilio's ParentCallSid), so the register shows who was briefed and who took it."""
    parent = fields.text(request.form, "ParentCallSid", 64) or _call_sid()
    return Caller(parent, "")


@voice.post("/oncall/brief")
def oncall_brief() -> Response:
    """Twilio fetches this when an on-call engineer answers: the order's briefing."""
    return _answer(services().engine.oncall_brief(_resident_call(), _state(request.args)))


@voice.post("/oncall/accept")
def oncall_accept() -> Response:
    """The briefed engineer pressed a key: 1 takes the call."""
    digits = clean_digits(request.form.get("Digits", ""))
    turn = services().engine.oncall_accept(_resident_call(), _state(request.args), digits)
    return _answer(turn)


@voice.post("/transcription")
def transcription() -> Response:
    """Twilio's transcription of a recorded description (English only, at Twilio's end)."""
    sid, form = _call_sid(), request.form
    text = clean_speech(form.get("TranscriptionText", ""))
    recording_sid = fields.text(form, "RecordingSid", 64)
    if sid and recording_sid:
        detail = {
            "recording_sid": recording_sid,
            "text": text,
            "status": fields.text(form, "TranscriptionStatus", 16),
        }
        key = f"{sid}:transcription:{recording_sid}"
        now = services().clock.now()
        _log_events(
            [
                CallEvent(
                    sid, EventKind.TRANSCRIPTION, now, node="transcription", detail=detail, key=key
                )
            ]
        )
    return twiml(render([]))


def _recording() -> Recording | None:
    url = fields.url(request.form, "RecordingUrl", 512)
    if request.args.get("empty") or not url:
        return None
    return Recording(
        url,
        fields.text(request.form, "RecordingSid", 64),
        fields.count(request.form, "RecordingDuration"),
    )


@voice.post("/status")
def status() -> Response:
    """Twilio's status callback: always 200, idempotent by CallSid, status and sequence."""
    sid, form = _call_sid(), request.form
    call_status = fields.text(form, "CallStatus", 32)
    if sid:
        detail: dict[str, object] = {"status": call_status, **fields.duration(form, "CallDuration")}
        key = f"{sid}:status:{call_status}:{_sequence_number(form)}"
        now = services().clock.now()
        _log_events([CallEvent(sid, EventKind.STATUS, now, node="status", detail=detail, key=key)])
    return twiml(render([]))


def _sequence_number(form: Mapping[str, str]) -> str:
    """Twilio numbers a call's status callbacks; the key keeps each status once per number."""
    number = fields.whole_number(form, "SequenceNumber", limit=MAX_SEQUENCE)
    return "" if number is None else str(number)


@voice.post("/fallback")
def fallback() -> Response:
    """Twilio's Fallback URL: a static apology and a message; needs no database and no Redis."""
    sid, form = _call_sid(), request.form
    recording = _recording()
    detail: dict[str, object] = {
        "error_code": fields.text(form, "ErrorCode", 16),
        "error_url": fields.text(form, "ErrorUrl", 256),
    }
    if recording:
        detail.update(
            recording_url=recording.url,
            recording_sid=recording.sid,
            duration_s=recording.duration_s,
        )
    stage = "recorded" if request.args.get("stage") == "recorded" else "answered"
    key = f"{sid}:fallback:{stage}"
    _log_events(
        [
            CallEvent(
                sid,
                EventKind.FALLBACK,
                services().clock.now(),
                node="fallback",
                detail=detail,
                key=key,
            )
        ]
    )
    if stage == "recorded":
        return twiml(
            render(
                services().engine.goodbye(
                    services().settings.default_locale, thanks=bool(recording)
                )
            )
        )
    return twiml(edge().fallback_twiml)
