"""How the phone reaches the hotline: over HTTP as Twilio does, or through a Flask test
client; and what it says when the hotline cannot be reached or refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 15.0  # Twilio gives up on a webhook after 15 s and tries the Fallback URL


class HotlineError(RuntimeError):
    """The call could not go on; the message says what to do about it."""


class HotlineUnreachableError(HotlineError):
    """Nothing answered at the hotline's URL."""


class HotlineRefusedError(HotlineError):
    """The hotline answered with an HTTP error (403: the signature did not match)."""


class NothingToAnswerError(HotlineError):
    """`ivr call --answer` found no call from the hotline waiting to be picked up."""


@dataclass(frozen=True)
class HotlineAnswer:
    status: int
    body: bytes


class Transport(Protocol):
    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer: ...


class HttpTransport:
    """A hotline running somewhere reachable, e.g. `ivr run` on this machine."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()

    def close(self) -> None:
        self.session.close()

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        try:
            response = self.session.post(
                url,
                data=list(form),
                headers=dict(headers),
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                allow_redirects=False,  # Twilio does not follow a webhook's redirects either
            )
        except requests.ConnectionError as exc:
            raise HotlineUnreachableError(
                f"nothing answers at {origin_of(url)}: is the hotline running?"
                " Start it with `ivr run`, or point --url at it."
            ) from exc
        except requests.Timeout as exc:
            raise HotlineUnreachableError(
                f"{url} did not answer within {READ_TIMEOUT_S:g} s; Twilio would give up too"
            ) from exc
        except requests.RequestException as exc:
            raise HotlineError(f"cannot call {url}: {exc}") from exc
        return HotlineAnswer(response.status_code, response.content)


class FlaskTransport:
    """The hotline app in this process, through Flask's test client (for tests)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(
        self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> HotlineAnswer:
        # A full URL keeps the scheme and host, so request.url is what we signed.
        response = self.client.post(url, data=MultiDict(list(form)), headers=dict(headers))
        return HotlineAnswer(response.status_code, response.get_data())


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL; empty for a relative one."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
