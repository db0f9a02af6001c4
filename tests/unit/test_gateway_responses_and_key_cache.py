"""template.yaml's gateway responses and authorizer cache, read as the offline stack reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchcalls.store.accounts import AccountStore
from local.api_gateway import GATEWAY_ERRORS, render_gateway_response
from local.template import Template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT)


def test_the_authorizer_cache_lets_a_revoked_key_live_at_most_60_seconds(template: Template) -> None:
    api = next(iter(template.of_type("AWS::Serverless::Api").values()))
    authorizers = api["Properties"]["Auth"]["Authorizers"]
    ttls = [int(a.get("Identity", {}).get("ReauthorizeEvery", 300)) for a in authorizers.values()]
    assert ttls and max(ttls) <= 60  # API Gateway's default, when absent, is 300 s


@pytest.mark.parametrize("response_type", sorted(GATEWAY_ERRORS))
def test_every_gateway_error_body_is_json_with_an_error_sentence(
    template: Template, response_type: str
) -> None:
    error = render_gateway_response(template, response_type, "req-1")
    body = json.loads(error.body)
    assert isinstance(body.get("error"), str) and body["error"]
    # The template answers a denied key as a missing one (401) and an unknown route as 404;
    # the others keep API Gateway's status.
    changed = {"ACCESS_DENIED": 401, "MISSING_AUTHENTICATION_TOKEN": 404}
    assert error.status == changed.get(response_type, GATEWAY_ERRORS[response_type][0])
    assert error.headers["Access-Control-Allow-Origin"] == "*"


def test_message_string_is_rendered_quoted_as_api_gateway_does(template: Template) -> None:
    error = render_gateway_response(template, "REQUEST_TOO_LARGE")
    assert error.body == b'{"error": "Request Too Long"}'
    assert error.status == 413


def test_an_unknown_route_is_a_404_that_says_so(template: Template) -> None:
    error = render_gateway_response(template, "MISSING_AUTHENTICATION_TOKEN")
    assert error.status == 404
    assert json.loads(error.body) == {
        "error": "No such route: check the method and the path (GET /openapi.json lists them)"
    }


class RecordingDynamo:
    """Stands in for the DynamoDB client: records each GetItem and answers with one key item."""

    def __init__(self) -> None:
        self.get_items: list[dict[str, Any]] = []

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.get_items.append(kwargs)
        return {"Item": {"pk": {"S": "APIKEY#h"}, "sk": {"S": "APIKEY"}, "account_id": {"S": "acct"}}}


def test_the_key_lookup_is_a_consistent_read() -> None:
    client = RecordingDynamo()
    assert AccountStore(client, "table").account_id_for_key("h") == "acct"
    assert [call["ConsistentRead"] for call in client.get_items] == [True]
