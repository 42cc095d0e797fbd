"""A call the hotline placed (a callback or a return visit) through the simulated
telephony, picked up at the terminal: `ivr call --answer`."""

from __future__ import annotations

from collections.abc import Callable

from ivr.outbound.telephony import CallLineKind, SimulatedCall, SimulatedCallsFile
from ivr.sim.caller import CallerInput
from ivr.sim.phone import ACCOUNT_SID, CallSummary, PhoneCall, WebhookRequest, warn
from ivr.sim.transcript import Transcript
from ivr.sim.transport import NothingToAnswerError, Transport, origin_of
from ivr.voice.twiml import SignatureChecker


class AnsweredCall(PhoneCall):
    """A call the hotline placed through the simulated telephony backend, picked up at
    this terminal: Twilio's side of an outbound-api call, with its status callbacks.

    The hotline's URLs in the calls file are the ones Twilio would call, so they are
    signed as they are (or for --public-url) and delivered to --url."""

    def __init__(
        self,
        placed: SimulatedCall,
        url: str,
        transport: Transport,
        signer: SignatureChecker,
        caller_input: CallerInput,
        transcript: Transcript,
        public_url: str | None = None,
        account_sid: str = ACCOUNT_SID,
        *,
        decline: bool = False,
        on_ringing: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(
            url,
            placed.to,
            transport,
            signer,
            caller_input,
            transcript,
            public_url=public_url or origin_of(placed.url),
            hotline_number=placed.from_number,
            account_sid=account_sid,
        )
        self.placed = placed
        self.decline = decline
        self.on_ringing = on_ringing
        self.summary.call_sid = placed.sid
        self.from_number, self.to_number = placed.from_number, placed.to
        self.direction = "outbound-api"

    def run(self) -> CallSummary:
        """Ring, then answer and follow the call's TwiML, or let it ring out (--decline)."""
        self.transcript.note(
            f"the hotline {self.from_number} calls you at {self.to_number} ({self.call_sid})"
        )
        self._report_status("initiated")
        self.on_ringing()
        self._report_status("ringing")
        if self.decline:
            return self._ring_out()
        self.transcript.note("you answer")
        self._report_status("in-progress")  # Twilio's "answered" event
        return self._follow(WebhookRequest(self._reachable(self.placed.url)))

    def _ring_out(self) -> CallSummary:
        self.transcript.note("you let it ring: nobody answers")
        self._report_status("no-answer", [("CallDuration", "0")])
        self.summary.ended_by = "declined"
        return self.summary

    def _webhook_status(self) -> str:
        return "in-progress"  # the callee has answered before Twilio fetches any TwiML

    def _status_callback(self) -> str | None:
        return self.placed.status_callback or None


PICKED_UP = frozenset({CallLineKind.ANSWERED, CallLineKind.DECLINED})


def waiting_call(
    calls: SimulatedCallsFile, sid: str = "", to: str = "", bad_line: Callable[[str], None] = warn
) -> SimulatedCall:
    """The oldest call the hotline placed that no phone has answered or declined yet (only
    `sid`, or only calls to `to`, when given)."""
    lines = calls.read_new(bad_line)
    picked_up = {line.sid for line in lines if line.kind in PICKED_UP}
    placed = [
        line
        for line in lines
        if line.kind == CallLineKind.CALL and sid in {"", line.sid} and to in {"", line.to}
    ]
    waiting = [line for line in placed if line.sid not in picked_up]
    if waiting:
        return waiting[0]
    raise NothingToAnswerError(_nothing_waiting(calls, sid, to, already_answered=bool(placed)))


def _nothing_waiting(calls: SimulatedCallsFile, sid: str, to: str, already_answered: bool) -> str:
    if sid and already_answered:
        return f"call {sid} was answered (or declined) already"
    if sid:
        return f"the hotline placed no call {sid} ({calls.path} lists the calls it placed)"
    wanted = f" to {to}" if to else ""
    return (
        f"no call from the hotline{wanted} is waiting to be answered: without a Twilio"
        f" account, the calls it places are listed in {calls.path} (run this from the"
        " folder you started `ivr run` in, or set IVR_DATA_DIR)"
    )
