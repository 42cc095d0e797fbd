"""Twilio's side of the webhooks, for tests: signed, Twilio-shaped requests and parsed TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from ivr.voice.twiml import SignatureChecker

ACCOUNT_SID = "AC" + "0" * 32
HOTLINE = "+8657112345678"


@dataclass
class Verb:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Verb] = field(default_factory=list)


def parse_twiml(xml: str) -> list[Verb]:
    root = ET.fromstring(xml)  # noqa: S314 - our own server's output, in a test
    assert root.tag == "Response"
    return [_verb(element) for element in root]


def _verb(element: ET.Element) -> Verb:
    return Verb(element.tag, dict(element.attrib), element.text or "", [_verb(c) for c in element])


def call_params(call_sid: str, caller: str = "+8613800138000", **extra: str) -> dict[str, str]:
    """The parameters Twilio posts with every voice webhook."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Called": HOTLINE,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "To": HOTLINE,
        **extra,
    }


class TwilioFake:
    def __init__(self, client: FlaskClient, base_url: str, auth_token: str) -> None:
        self.client = client
        self.base_url = base_url
        self.signer = SignatureChecker(auth_token)

    def post(
        self,
        path: str,
        form: dict[str, str] | list[tuple[str, str]],
        signature: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> TestResponse:
        pairs = list(form.items()) if isinstance(form, dict) else list(form)
        if signature is None:
            signature = self.signer.sign(self.base_url + path, pairs)
        return self.client.post(
            path,
            data=MultiDict(pairs),
            headers={"X-Twilio-Signature": signature, **(headers or {})},
        )

    def twiml(self, path: str, form: dict[str, str] | list[tuple[str, str]]) -> list[Verb]:
        response = self.post(path, form)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml"
        return parse_twiml(response.get_data(as_text=True))

    def answer(self, call_sid: str, caller: str = "+8613800138000") -> list[Verb]:
        return self.twiml("/voice/incoming", call_params(call_sid, caller))

    def follow(self, url: str, call_sid: str, **form: str) -> list[Verb]:
        """Post to an action URL from our own TwiML, as Twilio would."""
        return self.twiml(url, call_params(call_sid, **form))
