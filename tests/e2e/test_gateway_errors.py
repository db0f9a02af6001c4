"""Errors the API gateway answers by itself are JSON with an ``error`` sentence, as rendered from
template.yaml's gateway responses (the offline stack renders them as API Gateway does)."""

from __future__ import annotations

import pytest
import requests

from local.api_gateway import MAX_BODY_BYTES
from local.stack import OfflineStack


def error_of(resp: requests.Response) -> str:
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = resp.json()  # a gateway error body that is not JSON fails here
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/no-such-route"), ("DELETE", "/health"), ("POST", "/batch-calls/x/y/z")],
)
def test_an_unknown_route_or_method_is_a_json_404(quiet_stack: OfflineStack, method: str, path: str) -> None:
    resp = requests.request(method, quiet_stack.api.url + path, timeout=10)
    assert resp.status_code == 404
    assert error_of(resp) == "No such route: check the method and the path (GET /openapi.json lists them)"


def test_a_body_over_10_mb_is_a_json_413(quiet_stack: OfflineStack) -> None:
    resp = requests.post(
        quiet_stack.api.url + "/batch-calls",
        data=b"x" * (MAX_BODY_BYTES + 1),
        headers={
            "Authorization": f"Bearer {quiet_stack.options.api_key}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert resp.status_code == 413
    assert error_of(resp) == "Request Too Long"


def test_a_missing_or_unknown_key_is_a_json_401(quiet_stack: OfflineStack) -> None:
    url = quiet_stack.api.url + "/batch-calls"
    missing = requests.post(url, json={"action": "list"}, timeout=10)
    unknown = requests.post(
        url, json={"action": "list"}, headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert error_of(missing) == error_of(unknown) == "Unauthorized"
