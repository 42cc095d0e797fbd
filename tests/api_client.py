"""Reading the JSON API in tests."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import API_TOKEN


def api_get(app: Flask, path: str, token: str | None = API_TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = app.test_client().get(path, headers=headers)
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data(as_text=True)
    return response.status_code, body


def api_post(
    app: Flask, path: str, body: Any, token: str | None = API_TOKEN
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = app.test_client().post(path, json=body, headers=headers)
    answer = response.get_json(silent=True)
    assert isinstance(answer, dict), response.get_data(as_text=True)
    return response.status_code, answer
