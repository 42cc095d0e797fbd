"""Every /voice/* request must carry Twilio's signature; forgeries get 403 and a log line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from ivr.voice.twiml import SignatureChecker
from tests.call_walk import state_url
from tests.conftest import AUTH_TOKEN, BASE_URL
from tests.twilio_fake import TwilioFake, call_params

# Twilio's own vectors (twilio-python tests/unit/test_request_validator.py).
VECTOR_TOKEN = "12345"
VECTOR_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


def test_twilio_vector_signature() -> None:
    checker = SignatureChecker(VECTOR_TOKEN)
    assert checker.sign(VECTOR_URI, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert checker.is_genuine(VECTOR_URI, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_twilio_vector_with_repeated_keys() -> None:
    checker = SignatureChecker(VECTOR_TOKEN)
    form = MultiDict(
        [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    )
    assert checker.sign(VECTOR_URI, list(form.items(multi=True))) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert checker.is_genuine(VECTOR_URI, form, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


@pytest.mark.parametrize(
    ("uri", "signature"),
    [
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_twilio_vectors_with_and_without_ports(uri: str, signature: str) -> None:
    assert SignatureChecker(VECTOR_TOKEN).is_genuine(uri, VECTOR_PARAMS, signature)


def test_a_signature_with_another_token_is_not_genuine() -> None:
    assert not SignatureChecker("other").is_genuine(
        VECTOR_URI, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


VOICE_PATHS = [
    "/voice/incoming",
    "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0",
    "/voice/queue/wait?lang=zh-CN",
    "/voice/queue/result?node=general_queue&lang=zh-CN&seq=2&ni=0&nm=0",
    "/voice/message?node=take_message&lang=zh-CN&seq=3&ni=0&nm=0",
    "/voice/status",
    "/voice/fallback",
]


@pytest.mark.parametrize("path", VOICE_PATHS)
def test_unsigned_requests_are_refused(
    twilio: TwilioFake, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = twilio.post(path, call_params("CA200", Digits="1"), signature="")
    assert response.status_code == 403
    assert f"rejected POST {path.split('?')[0]} from 127.0.0.1: no signature" in caplog.text


@pytest.mark.parametrize("path", VOICE_PATHS)
def test_forged_signatures_are_refused(
    twilio: TwilioFake, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    forged = SignatureChecker("not-our-token").sign(BASE_URL + path, call_params("CA201"))
    response = twilio.post(path, call_params("CA201"), signature=forged)
    assert response.status_code == 403
    assert "bad signature" in caplog.text


def test_a_tampered_parameter_is_refused(twilio: TwilioFake) -> None:
    path = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0"
    signature = twilio.signer.sign(BASE_URL + path, call_params("CA202", Digits="1"))
    assert (
        twilio.post(path, call_params("CA202", Digits="2"), signature=signature).status_code == 403
    )


def test_a_tampered_url_is_refused(twilio: TwilioFake) -> None:
    """The caller's position travels in the URL; it cannot be changed without the token."""
    signed_for = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0"
    signature = twilio.signer.sign(BASE_URL + signed_for, call_params("CA203"))
    tampered = "/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=2"
    assert twilio.post(tampered, call_params("CA203"), signature=signature).status_code == 403


def test_repeated_keys_are_signed_and_checked(twilio: TwilioFake) -> None:
    form = [*call_params("CA204").items(), ("Digits", "5678"), ("Digits", "1")]
    response = twilio.post("/voice/step?node=main_menu&lang=zh-CN&seq=1&ni=0&nm=0", form)
    assert response.status_code == 200


def test_public_url_with_a_port(make_app: Callable[..., Flask]) -> None:
    base = "https://hotline.example.com:8443"
    app = make_app(public_base_url=base)
    twilio = TwilioFake(app.test_client(), base, AUTH_TOKEN)
    assert twilio.post("/voice/incoming", call_params("CA205")).status_code == 200


def test_without_a_public_url_the_request_url_is_signed(make_app: Callable[..., Flask]) -> None:
    app = make_app(public_base_url="")
    twilio = TwilioFake(app.test_client(), "http://localhost", AUTH_TOKEN)
    assert twilio.post("/voice/incoming", call_params("CA206")).status_code == 200
    # The call's sealed values travel percent-encoded (%3D); the signature covers them as sent.
    unit = state_url(app, "/voice/step", "confirm_unit", 3, ul="1栋101室")
    assert "%3D" in unit
    assert twilio.post(unit, call_params("CA206", Digits="1")).status_code == 200


def test_forwarded_headers_count_only_from_a_trusted_proxy(make_app: Callable[..., Flask]) -> None:
    public = "https://hotline.example.com"
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hotline.example.com"}
    trusting = TwilioFake(
        make_app(public_base_url="", trusted_proxies=1).test_client(), public, AUTH_TOKEN
    )
    assert (
        trusting.post("/voice/incoming", call_params("CA207"), headers=proxied).status_code == 200
    )
    wary = TwilioFake(make_app(public_base_url="").test_client(), public, AUTH_TOKEN)
    assert wary.post("/voice/incoming", call_params("CA208"), headers=proxied).status_code == 403


def test_sha256_signatures_when_twilio_says_so(twilio: TwilioFake) -> None:
    params = call_params("CA209")
    signature = twilio.signer.sign(BASE_URL + "/voice/incoming", params, "HMAC_SHA256")
    assert signature != twilio.signer.sign(BASE_URL + "/voice/incoming", params)
    headers = {"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256"}
    assert (
        twilio.post("/voice/incoming", params, signature=signature, headers=headers).status_code
        == 200
    )
