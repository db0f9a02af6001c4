"""Input at the edges that used to reach the store or the runtime as a 5xx: moments outside
datetime's range, cursors naming keys of their choosing, bodies no store can keep."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchcalls.api.routes import build_app, handle, json_body, json_when_form_default
from batchcalls.domain.clock import parse_iso
from batchcalls.domain.errors import InvalidRequest
from batchcalls.store.batches import decode_cursor, encode_cursor
from batchcalls.store.dynamo import serialize


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_moment_whose_utc_form_leaves_the_calendar_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="outside the years"):
        parse_iso(text)


def test_calendar_edges_inside_the_range_still_parse() -> None:
    assert parse_iso("0001-01-01T00:00:00Z").year == 1
    assert parse_iso("9999-12-31T23:59:59Z").year == 9999


def _cursor(plain: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def test_a_batch_list_cursor_is_rebuilt_for_the_account_asking() -> None:
    # Given the cursor of a page of account A's list
    raw = serialize(
        {"pk": "BATCH#b-1", "sk": "META", "gsi1pk": "OWNER#A", "gsi1sk": "2026-12-01T10:00:00.000Z#b-1"}
    )
    cursor = encode_cursor(raw)
    # When account B sends it, every key but the place in the list is B's own
    start = decode_cursor(cursor, "B")
    assert start["gsi1pk"] == {"S": "OWNER#B"}
    assert start["pk"] == {"S": "BATCH#b-1"} and start["sk"] == {"S": "META"}
    assert start["gsi1sk"] == {"S": "2026-12-01T10:00:00.000Z#b-1"}


@pytest.mark.parametrize(
    "plain",
    [
        {"pk": "ACCOUNT#other", "sk": "PROFILE", "gsi1pk": "OWNER#other", "gsi1sk": "x"},
        {"gsi1sk": "PROFILE"},
        {"gsi1sk": "2026-12-01T10:00:00.000Z#" + "x" * 3000},
    ],
)
def test_a_cursor_naming_other_keys_is_refused(plain: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="malformed cursor"):
        decode_cursor(_cursor(plain), "B")


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ('{"action": "get", "batch_id": "\\ud800"}', "lone UTF-16 surrogate"),
        ('{"action": "list", "limit": NaN}', "NaN is not a JSON value"),
        ('{"action": "list", "limit": -Infinity}', "-Infinity is not a JSON value"),
    ],
)
def test_a_body_no_store_can_keep_is_refused_by_name(body: str, sentence: str) -> None:
    with pytest.raises(InvalidRequest, match=sentence):
        json_body(body)


def test_a_pair_of_surrogate_escapes_is_ordinary_unicode() -> None:
    assert json_body('{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


def _event(body: str) -> dict[str, Any]:
    return {
        "resource": "/batch-calls",
        "path": "/batch-calls",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "authorizer": {"account_id": "A"},
            "resourcePath": "/batch-calls",
            "requestId": "r",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_a_body_nested_100000_deep_is_a_400() -> None:
    body = '{"action": "get", "batch_id": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = build_app().resolve(_event(body), LambdaContext())
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"error": "The request body is nested too deeply"}


def test_a_json_body_sent_as_curls_default_form_is_read_as_json() -> None:
    # Given the body `curl -d '{...}'` sends: JSON, labelled as a form
    event = _event('{"action": "nope"}')
    event["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    # When it is handled, it is read as the JSON it is (the action is found, and refused)
    answer = handle(event, LambdaContext())
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"error": "Unknown action: nope"}


def test_a_real_form_body_is_left_as_it_is() -> None:
    event = _event("action=get&batch_id=1")
    event["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    assert json_when_form_default(event) is event
