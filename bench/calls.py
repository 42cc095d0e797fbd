"""Twilio-shaped webhook requests, signed in advance for one base URL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlencode

from ivr.voice.twiml import SignatureChecker

AUTH_TOKEN = "bench-auth-token-00112233445566778899"
ACCOUNT_SID = "AC" + "b" * 32
HOTLINE_NUMBER = "+8657112345678"


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str  # with its query string, exactly as our TwiML hands it to Twilio
    extra: tuple[tuple[str, str], ...] = ()


INCOMING = Endpoint("incoming", "/voice/incoming")
MENU_STEP = Endpoint(
    "step",
    "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0",
    (("Digits", "1"), ("FinishedOnKey", ""), ("msg", "Gather End")),
)
ENDPOINTS = (INCOMING, MENU_STEP)


@dataclass(frozen=True)
class SignedRequest:
    path: str
    signature: str
    body: str  # application/x-www-form-urlencoded, ASCII

    def raw(self, port: int, *, close: bool) -> bytes:
        """The whole HTTP/1.1 request, as a socket would carry it."""
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "User-Agent: TwilioProxy/1.1",
            "Content-Type: application/x-www-form-urlencoded",
            f"X-Twilio-Signature: {self.signature}",
            f"Content-Length: {len(self.body)}",
            *(["Connection: close"] if close else []),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n" + self.body).encode("ascii")


def twilio_params(call_sid: str, caller: str) -> list[tuple[str, str]]:
    """What Twilio posts to a voice webhook for an inbound call from a Chinese mobile."""
    return [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "in-progress"),
        ("Called", HOTLINE_NUMBER),
        ("CalledCity", ""),
        ("CalledCountry", "CN"),
        ("CalledState", "Zhejiang"),
        ("CalledZip", ""),
        ("Caller", caller),
        ("CallerCity", ""),
        ("CallerCountry", "CN"),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("Direction", "inbound"),
        ("From", caller),
        ("FromCity", ""),
        ("FromCountry", "CN"),
        ("FromState", ""),
        ("FromZip", ""),
        ("To", HOTLINE_NUMBER),
        ("ToCity", ""),
        ("ToCountry", "CN"),
        ("ToState", "Zhejiang"),
        ("ToZip", ""),
    ]


def signed_requests(
    base_url: str, endpoint: Endpoint, count: int, seed: int, auth_token: str = AUTH_TOKEN
) -> list[SignedRequest]:
    """`count` distinct calls (CallSid, caller) to one endpoint, signed for `base_url`."""
    rng = random.Random(seed)
    signer = SignatureChecker(auth_token)
    url = base_url + endpoint.path
    made = []
    for _ in range(count):
        call_sid = "CA" + f"{rng.getrandbits(128):032x}"
        caller = "+86138" + f"{rng.randrange(10**8):08d}"
        params = [*twilio_params(call_sid, caller), *endpoint.extra]
        made.append(SignedRequest(endpoint.path, signer.sign(url, params), urlencode(params)))
    return made
