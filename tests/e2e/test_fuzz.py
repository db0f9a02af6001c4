"""Fuzz (issue 11): generated hostile requests to every action and route of the offline stack —
wrong types, huge and deep values, odd unicode, dates at the calendar's edges, 3,000-character
ids, forged cursors, int64 edges — are answered below 500, within 5 s, and every 4xx is
``{"error": "<sentence>"}``.

Hypothesis is bounded for ``make test``: few examples, no shrinking, derandomized (the same
requests on every run). The explicit cases at the bottom are the failures the issue names and
those the fuzz found, kept whatever a run's sample holds.

moto takes keys DynamoDB refuses (a partition key over 2,048 bytes, a sort key over 1,024, an
empty string), so here they are refused as DynamoDB would (``ValidationException``, through
botocore's public event hooks): a request that would be a 5xx in AWS is one here too."""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import socket
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote, urlencode

import pytest
import requests
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from batchcalls import aws
from batchcalls.api.actions import ACTION_NAMES
from batchcalls.models.api import (
    ActionRequest,
    SuppressionAddRequest,
    UpdateBatchRequest,
    UploadBatchRequest,
)
from batchcalls.models.domain import Account, CallerNumber
from batchcalls.models.event_api import (
    EventName,
    SubscribableName,
    WebhookCreateRequest,
    WebhookUpdateRequest,
)
from batchcalls.outbound.webhook_http import WebhookPoster
from batchcalls.services import account as account_service
from batchcalls.services.auth import hash_api_key
from batchcalls.services.context import get_context
from local.seed import DEMO_ACCOUNT_ID, DEMO_CALLER_ID
from local.stack import OfflineStack
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
LIMIT_SECONDS = 5.0
OTHER_ACCOUNT = "fuzz-other-account"
OTHER_KEY = "fuzz-other-key"
OTHER_CALLER = "+16045550000"
FAR = "2099-01-01T00:00:00Z"  # a schedule nothing reaches while the tests run
ACTION_PATHS = ["/batch-calls", "/functions/v1/batch-calls"]

FUZZ = settings(
    max_examples=20,
    deadline=None,  # the 5 s limit is checked per request
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each failing request costs a round trip
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=False,
)


# -- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text sent as is: what json.dumps cannot write (a 100,000-deep nesting would recurse,
    NaN as a bare literal, lone surrogates as ``\\ud800`` escapes)."""

    text: str

    def __repr__(self) -> str:
        return f"Raw({_short(self.text, 80)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Encoded:
    """A path or query value already percent-encoded (bytes that are not UTF-8, a bare %)."""

    text: str


def _short(text: str | bytes, limit: int = 300) -> str:
    shown = repr(text[:limit])
    return shown + (f"… ({len(text):,} in all)" if len(text) > limit else "")


def to_json(value: Any, ascii_only: bool = True) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        pairs = (
            f"{json.dumps(str(k), ensure_ascii=ascii_only)}:{to_json(v, ascii_only)}"
            for k, v in value.items()
        )
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def as_text(value: Any) -> str:
    if isinstance(value, Raw | Encoded):
        return value.text
    return value if isinstance(value, str) else json.dumps(value)


def url_part(value: Any) -> str:
    return value.text if isinstance(value, Encoded) else quote(as_text(value), safe="")


def query_string(pairs: list[tuple[str, Any]]) -> str:
    return "&".join(f"{quote(name, safe='')}={url_part(value)}" for name, value in pairs)


@dataclass
class Call:
    method: str
    path: str  # encoded
    query: str = ""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = "demo"  # "demo", "other", None (no Authorization) or the header itself
    fields: str = ""  # a JSON body's fields, each shortened, for the failure message

    def __repr__(self) -> str:
        target = _short(self.path + (f"?{self.query}" if self.query else ""), 200)
        body = f" body={self.fields or _short(self.body or b'')}" if self.body is not None else ""
        shown = ", ".join(f"{k}: {_short(v, 60)}" for k, v in self.headers.items())
        headers = f" headers={{{shown}}}" if shown else ""
        return f"{self.method} {target}{body}{headers} key={_short(self.key or '', 40)}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def json_call(
    path: str,
    body: Any,
    *,
    ascii_only: bool = True,
    headers: Mapping[str, str] | None = None,
    key: str = "demo",
    method: str = "POST",
) -> Call:
    return Call(
        method,
        path,
        body=to_json(body, ascii_only).encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
        key=key,
        fields=_fields(body),
    )


def _fields(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    shown = (f"{_clip(json.dumps(str(k)), 30)}: {_clip(to_json(v), 70)}" for k, v in body.items())
    return "{" + ", ".join(shown) + "}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} in all)"


# -- what the stack logs when a handler raised --------------------------------------------------


class HandlerErrors(logging.Handler):
    """The local API Gateway logs the exception behind each of its 502s: the failure message
    names it and the line it came from."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        causes = [_cause(r.exc_info[1]) for r in self.records if r.exc_info and r.exc_info[1]]
        return "; ".join(causes) or "nothing logged"


def _cause(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(ROOT)) and "site-packages" not in f.filename]
    where = [f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} ({f.name})" for f in ours[-2:]]
    deepest = frames[-1] if frames else None
    if deepest is not None and (not ours or deepest is not ours[-1]):
        where.append(f"{Path(deepest.filename).name}:{deepest.lineno}")
    return f"{type(exc).__name__}: {str(exc)[:200]} at {' ← '.join(reversed(where))}"


# -- DynamoDB's key limits, which moto does not check on reads ----------------------------------

KEY_BYTES = {"pk": 2048, "gsi1pk": 2048, "due_shard": 2048, "sk": 1024, "gsi1sk": 1024, "due_at": 1024}
_KEY_TERM = re.compile(
    r"(#?\w+)\s*(?:=|<=|>=|<|>|BETWEEN)\s*(:\w+)|begins_with\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)"
)


def _key_problem(key: Mapping[str, Any]) -> str | None:
    for name, value in key.items():
        text = value.get("S") if isinstance(value, dict) else None
        if name not in KEY_BYTES or not isinstance(text, str):
            continue
        if text == "":
            return f"The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
        if len(text.encode("utf-8", "surrogatepass")) > KEY_BYTES[name]:
            kind = "hashkey" if KEY_BYTES[name] == 2048 else "rangekey"
            return f"Size of {kind} has exceeded the maximum size limit of {KEY_BYTES[name]} bytes"
    return None


def _keys_in(params: Any) -> Iterator[Mapping[str, Any]]:
    """Every Key / ExclusiveStartKey of a request, transactions and batches included."""
    if isinstance(params, dict):
        for name, value in params.items():
            if name in ("Key", "ExclusiveStartKey") and isinstance(value, dict):
                yield value
            elif name == "Keys" and isinstance(value, list):
                yield from value
            else:
                yield from _keys_in(value)
    elif isinstance(params, list):
        for value in params:
            yield from _keys_in(value)


def _key_condition_values(params: Mapping[str, Any]) -> dict[str, Any]:
    names: dict[str, str] = params.get("ExpressionAttributeNames") or {}
    values: dict[str, Any] = params.get("ExpressionAttributeValues") or {}
    found: dict[str, Any] = {}
    for match in _KEY_TERM.finditer(params.get("KeyConditionExpression") or ""):
        name, placeholder = (match[1], match[2]) if match[1] else (match[3], match[4])
        if placeholder in values:
            found[names.get(str(name), str(name))] = values[placeholder]
    return found


def refuse_what_dynamodb_refuses(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    keys = list(_keys_in(params))
    if model.name == "Query":
        keys.append(_key_condition_values(params))
    for key in keys:
        problem = _key_problem(key)
        if problem:
            error = {
                "Code": "ValidationException",
                "Message": f"One or more parameter values were invalid: {problem}",
            }
            raise ClientError({"Error": error}, model.name)


# -- the stack, its accounts and what exists in them --------------------------------------------


@dataclass
class Known:
    """Ids and cursors that exist, so generated requests reach past the 404s."""

    draft: str  # edited by update (stays a draft)
    spare: str  # started, paused, cancelled… by the fuzz
    scheduled: str
    parent: str  # a recurring series
    other_batch: str  # another account's
    other_batch_created_at: str
    recipient_ids: list[str]
    suppressed: str  # on the demo account's do-not-call list
    other_suppressed: str
    genuine_cursors: dict[str, str]  # next_cursors the API gave out, by route and account
    hooks: KnownWebhooks


@dataclass(frozen=True)
class KnownWebhooks:
    """Webhook endpoints that exist, and deliveries of them the sender recorded."""

    url: str  # http://127.0.0.1:<a port held, not listening>/fuzz: every delivery is refused at once
    webhook: str  # the demo account's; PATCH changes it, DELETE never takes it
    spare: str  # the demo account's, for DELETE (and rotate-secret)
    other: str  # another account's
    delivery: str  # of ``webhook``
    other_delivery: str  # of ``other``


@dataclass
class Fuzz:
    stack: OfflineStack
    errors: HandlerErrors
    session: requests.Session = field(default_factory=requests.Session)
    known: Known = field(init=False)

    def authorization(self, key: str | None) -> dict[str, str]:
        if key is None:
            return {}
        token = {"demo": self.stack.options.api_key, "other": OTHER_KEY}.get(key)
        return {"Authorization": f"Bearer {token}" if token else key}

    def send(self, call: Call) -> requests.Response:
        """Send ``call``; fail on a 5xx, an answer slower than 5 s, or a 4xx without an error sentence."""
        url = self.stack.api.url + call.path + (f"?{call.query}" if call.query else "")
        headers = {**self.authorization(call.key), **call.headers}
        self.errors.records.clear()
        started = time.monotonic()
        resp = self.session.request(
            call.method, url, data=call.body, headers=headers, allow_redirects=False, timeout=60
        )
        elapsed = time.monotonic() - started
        assert resp.status_code < 500, (
            f"{call!r} → {resp.status_code} {resp.text[:200]}: {self.errors.describe()}"
        )
        assert elapsed < LIMIT_SECONDS, f"{call!r} took {elapsed:.1f} s (limit {LIMIT_SECONDS:.0f} s)"
        if 400 <= resp.status_code < 500:
            assert _error_sentence(resp), (
                f"{call!r} → {resp.status_code} without an error sentence: {resp.text[:200]}"
            )
        return resp

    def ok(self, call: Call) -> dict[str, Any]:
        resp = self.send(call)
        assert resp.status_code == 200, f"{call!r} → {resp.status_code} {resp.text[:300]}"
        return dict(resp.json())

    def action(self, action: str, key: str = "demo", **fields: Any) -> dict[str, Any]:
        return self.ok(json_call("/batch-calls", {"action": action, **fields}, key=key))


def _error_sentence(resp: requests.Response) -> bool:
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"].strip())


def _b64(value: str | bytes) -> str:
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return base64.urlsafe_b64encode(raw).decode()


def _b64json(value: Any) -> str:
    return _b64(json.dumps(value))


def _seed_other_account() -> None:
    ctx = get_context()
    ctx.accounts.put_account(Account(id=OTHER_ACCOUNT, name="Other"))
    ctx.accounts.put_api_key(hash_api_key(OTHER_KEY), OTHER_ACCOUNT)
    ctx.accounts.put_caller_number(OTHER_ACCOUNT, CallerNumber(phone_number=OTHER_CALLER, agent_id="a2"))
    for n in (1, 2):
        account_service.add_credits(ctx, OTHER_ACCOUNT, 1_000_000, ref=f"fuzz-other-{n}")
    account_service.add_credits(ctx, DEMO_ACCOUNT_ID, 1_000_000, ref="fuzz-demo-1")


def _batch(fuzz: Fuzz, key: str = "demo", **fields: Any) -> dict[str, Any]:
    caller = DEMO_CALLER_ID if key == "demo" else OTHER_CALLER
    recipients = [{"phone_number": "+14155550100"}, {"phone_number": "+14155550101"}]
    body = {"name": "fuzz seed", "caller_id": caller, "recipients": recipients, **fields}
    return dict(fuzz.action("create", key=key, **body)["batch"])


def _next_cursor(fuzz: Fuzz, path: str, key: str) -> str:
    cursor = fuzz.ok(Call("GET", path, query="limit=1", key=key))["next_cursor"]
    assert cursor, path
    return str(cursor)


def _eventual_cursor(fuzz: Fuzz, path: str, key: str) -> str:
    """A next_cursor of a page filled from the table's stream (the event log), once it has one."""
    return str(wait_for(lambda: fuzz.ok(Call("GET", path, query="limit=1", key=key))["next_cursor"]))


def _webhook(fuzz: Fuzz, url: str, key: str) -> str:
    # credits.low only: the many batches the fuzz makes send these endpoints nothing.
    body = {"url": url, "events": ["credits.low"], "description": "fuzz seed"}
    return str(fuzz.ok(json_call("/account/webhooks", body, key=key))["webhook"]["id"])


def _test_deliveries(fuzz: Fuzz, webhook_id: str, key: str) -> list[str]:
    """Two deliveries to the endpoint (a page of one then has a next_cursor), queued."""
    sent = []
    for _ in range(2):
        resp = fuzz.send(Call("POST", f"/account/webhooks/{webhook_id}/test", key=key))
        assert resp.status_code == 202, resp.text[:300]
        sent.append(str(resp.json()["delivery_id"]))
    return sent


def _recorded(fuzz: Fuzz, webhook_id: str, key: str, sent: list[str]) -> bool:
    """Whether the sender recorded an attempt of each: redeliver finds no delivery before."""
    page = fuzz.ok(Call("GET", f"/account/webhooks/{webhook_id}/deliveries", key=key))
    return set(sent) <= {d["id"] for d in page["deliveries"]}


def _known_webhooks(fuzz: Fuzz, url: str) -> KnownWebhooks:
    webhook, spare, other = (_webhook(fuzz, url, key) for key in ("demo", "demo", "other"))
    ours, theirs = _test_deliveries(fuzz, webhook, "demo"), _test_deliveries(fuzz, other, "other")
    wait_for(lambda: _recorded(fuzz, webhook, "demo", ours) and _recorded(fuzz, other, "other", theirs))
    return KnownWebhooks(url, webhook, spare, other, delivery=ours[0], other_delivery=theirs[0])


def _known(fuzz: Fuzz, webhook_url: str) -> Known:
    draft = _batch(fuzz, status="draft")
    spare = _batch(fuzz, status="draft")
    scheduled = _batch(fuzz, send_now=False, scheduled_at=FAR)
    parent = _batch(fuzz, send_now=False, scheduled_at=FAR, recurrence_type="daily")
    other = _batch(fuzz, key="other", status="draft")
    _batch(fuzz, key="other", status="draft")
    numbers = {"demo": ["+14155550177", "+14155550178"], "other": ["+14155550187", "+14155550188"]}
    for key, listed in numbers.items():
        fuzz.ok(json_call("/account/suppression", {"numbers": listed}, key=key))
    cursors = {
        f"{route} of {key}": _next_cursor(fuzz, path, key)
        for key in ("demo", "other")
        for route, path in (("ledger", "/account/ledger"), ("suppression", "/account/suppression"))
    }
    cursors["recipients of other"] = _next_cursor(fuzz, f"/batch-calls/{other['id']}/recipients", "other")
    for key in ("demo", "other"):
        cursors[f"list of {key}"] = str(fuzz.action("list", key=key, limit=1)["next_cursor"])
    hooks = _known_webhooks(fuzz, webhook_url)
    for key, webhook in (("demo", hooks.webhook), ("other", hooks.other)):
        cursors[f"deliveries of {key}"] = _next_cursor(fuzz, f"/account/webhooks/{webhook}/deliveries", key)
        cursors[f"events of {key}"] = _eventual_cursor(fuzz, "/account/events", key)
    recipients = fuzz.action("get", batch_id=spare["id"])["recipients"]
    return Known(
        draft=draft["id"],
        spare=spare["id"],
        scheduled=scheduled["id"],
        parent=parent["id"],
        other_batch=other["id"],
        other_batch_created_at=other["created_at"],
        recipient_ids=[r["id"] for r in recipients],
        suppressed=numbers["demo"][0],
        other_suppressed=numbers["other"][0],
        genuine_cursors=cursors,
        hooks=hooks,
    )


@pytest.fixture(scope="module")
def fuzz(quiet_stack: OfflineStack) -> Iterator[Fuzz]:
    errors = HandlerErrors()
    api_log = logging.getLogger("local.api")
    api_log.addHandler(errors)
    db = aws.client("dynamodb")  # the cached client every handler of the stack uses
    db.meta.events.register(
        "before-parameter-build.dynamodb", refuse_what_dynamodb_refuses, "fuzz-key-limits"
    )
    _seed_other_account()
    # Bound, never listening: connecting is refused at once, and no other process takes the port.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        running = Fuzz(quiet_stack, errors)
        running.known = _known(running, f"http://127.0.0.1:{closed.getsockname()[1]}/fuzz")
        yield running
    finally:
        closed.close()
        db.meta.events.unregister("before-parameter-build.dynamodb", unique_id="fuzz-key-limits")
        api_log.removeHandler(errors)


# -- hostile values -----------------------------------------------------------------------------

INT64_EDGES = [2**63 - 1, -(2**63), 2**63, 2**64, -(2**64), 2**31 - 1, 2**31, -1, 0, 10**40, -(10**40)]
FLOAT_EDGES = [1e308, -1e308, 1.7976931348623157e308, 5e-324, -0.0, 0.5, 1e-300, 1.0, 1e16]
RAW_NUMBERS = [
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    "9" * 5000,
    "1e-400",
    "-0",
    "01",
    "0x10",
    "1.",
    ".5",
    "+1",
    "1E400",
]
EDGE_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-12:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:00Z",
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2030-06-30T23:59:60+00:00",
    "2030-01-01T24:00:00Z",
    "2030-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2030-01-01T00:00:00+24:00",
    "2030-01-01T00:00:00+99:99",
    "2030-01-01T00:00:00.123456789Z",
    "2030-01-01T00:00:00",
    "2030-01-01",
    "2030-W01-1T00:00:00Z",
    "20300101T000000Z",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z",
    "2099-01-01T00:00:00z",
    "2099-01-01 00:00:00+00:00",
    "2099-01-01T00:00:00Z\n",
    "٢٠٩٩-٠١-٠١T00:00:00Z",
    "",
    "now",
    "Z",
]
OFFSETS = [
    UTC,
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(hours=23, minutes=59)),
]
ODD_TEXT = [
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "\u202eevil",  # right-to-left override
    "\u200f\u200e",
    "\u2028\u2029",
    "\ufeff",
    "\uffff\ufffe",
    "😀",
    "👩\u200d👩\u200d👧",
    "e\u0301\u0301\u0301",
    "𝕏𝔂𝔃",
    "İı ß ǅ",
    "٠١٢٣٤٥٦٧٨٩",
    "\t\n\r ",
    " ",
    "",
]
LONE_SURROGATES = [
    '"\\ud800"',
    '"\\udfff"',
    '"x\\ud83d"',
    '"\\ude00\\ud83d"',
    '"\\u0000"',
    '"\\ud800\\u0000"',
]
INJECTION = [
    "BATCH#x",
    f"ACCOUNT#{OTHER_ACCOUNT}",
    "R#",
    "DNC#",
    "LEDGER#",
    "META",
    "PROFILE",
    "../../etc/passwd",
    "..",
    "/",
    "?",
    "#",
    "&",
    "%",
    "%00",
    "%2F",
    "\\",
    "' OR '1'='1",
    '"',
    "{{7*7}}",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "null",
    "true",
    "[]",
    "{}",
]
UNITS = ["a", "9", "+1", "😀", "\u202e", " ", "\x00", ",", "é", "\n", '"']
SIZES = [101, 201, 257, 1_001, 3_000, 10_001, 100_000]
DEEP = 100_000
DEEP_LIST = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP
DEEP_RAWS = [
    DEEP_LIST,
    DEEP_OBJECT,
    "[" * 1000 + "]" * 1000,
    '{"a":' * 1000 + "{}" + "}" * 1000,
    "[{}," * 500 + "1" + "]" * 500,
]
ZONES = [
    "x" * 256,
    "America/" + "x" * 300,
    "UTC\x00",
    "../etc/passwd",
    "/etc/localtime",
    "America//New_York",
    "./UTC",
    "Etc/GMT+14",
    "Etc/GMT-14",
    "Factory",
    "localtime",
    "posixrules",
    "right/UTC",
    "zoneinfo/UTC",
    "EST5EDT",
    "utc",
    "UTC ",
    "",
]
PHONES = [
    "+",
    "+1",
    "+" + "9" * 40,
    "+" + "9" * 20,
    "0" * 40,
    "+1 (415) 555-0100 ext. 99999999",
    "+14155550100\x00",
    "+1415555O1OO",
    "+١٤١٥٥٥٥٠١٠٠",
    "tel:+14155550100",
    "+800 1234 5678",
    "+882 1234 5678",
    "911",
    "+1-555-555-5555",
    DEMO_CALLER_ID,
    OTHER_CALLER,
]
CSVS = [
    "phone_number\n",
    "\n",
    "+14155550100",
    "\ufeffphone_number\n+14155550100\n",
    'phone_number\n"+14155550100\n',
    "phone_number\r+14155550100\r",
    "phone_number,name\n+14155550100,\x00\n",
    "phone_number\n" + "\n" * 10_000,
    ",".join(f"c{i}" for i in range(2_000)) + "\n" + ",".join("x" * 2_000) + "\n",
    "phone_number,phone_number\n+14155550100,+14155550101\n",
    "phone_number,name\n=cmd|' /C calc'!A0,@SUM(1)\n",
    "phone_number\n" + "9" * 100_000 + "\n",
    "a" * 100_000,
    "phone_number;name\n+14155550100;x\n",
    "phone_number\n+14155550100\n" * 3,
]


def small_json() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


def repeated(max_len: int) -> st.SearchStrategy[str]:
    sizes = [n for n in SIZES if n <= max_len]
    return st.builds(lambda unit, n: (unit * n)[:n], st.sampled_from(UNITS), st.sampled_from(sizes))


def dates() -> st.SearchStrategy[str]:
    moments = st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(OFFSETS),
    )
    return st.sampled_from(EDGE_DATES) | moments.map(datetime.isoformat)


def numbers() -> st.SearchStrategy[Any]:
    return (
        st.sampled_from(INT64_EDGES + FLOAT_EDGES)
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from([Raw(n) for n in RAW_NUMBERS])
    )


def odd_text() -> st.SearchStrategy[Any]:
    return (
        st.sampled_from(ODD_TEXT)
        | st.sampled_from([Raw(s) for s in LONE_SURROGATES])
        | st.text(max_size=20)
        | st.sampled_from(INJECTION)
    )


def ids(known: Known) -> st.SearchStrategy[str]:
    k = known
    return st.sampled_from(
        [
            "a" * 3000,
            "é" * 3000,
            "a" * 101,
            k.other_batch,
            k.draft.upper(),
            f" {k.draft} ",
            f"{k.draft}\x00",
            f"BATCH#{k.draft}",
            f"{k.draft}/recipients",
            f"../{k.draft}",
            f"{k.parent}#0",
            f"{k.parent}-run-0",
            str(uuid.UUID(int=0)),
            "META",
        ]
    )


def cursors(known: Known) -> st.SearchStrategy[str]:
    k = known
    other_keys = {
        "pk": f"BATCH#{k.other_batch}",
        "sk": "META",
        "gsi1pk": f"OWNER#{OTHER_ACCOUNT}",
        "gsi1sk": f"{k.other_batch_created_at}#{k.other_batch}",
    }
    forged = [
        _b64json({"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "PROFILE"}),
        _b64json(other_keys),
        _b64json({**other_keys, "gsi1pk": f"OWNER#{DEMO_ACCOUNT_ID}"}),
        _b64json(
            {
                "pk": f"ACCOUNT#{DEMO_ACCOUNT_ID}",
                "sk": "PROFILE",
                "gsi1pk": f"OWNER#{DEMO_ACCOUNT_ID}",
                "gsi1sk": "~",
            }
        ),
        _b64json({"pk": "", "sk": "", "gsi1pk": "", "gsi1sk": ""}),
        _b64json({"pk": 1, "sk": None, "gsi1pk": [], "gsi1sk": {}}),
        _b64json({"pk": "x" * 300, "sk": "y" * 300, "gsi1pk": "OWNER#" + "z" * 300, "gsi1sk": "w" * 300}),
        _b64json({"sk": "LEDGER#~"}),
        _b64json({"sk": "DNC#"}),
        _b64json({"sk": f"DNC#{k.other_suppressed}"}),
        _b64json({"sk": "PROFILE"}),
        _b64json({"sk": "CREDITS"}),
        _b64json({"sk": ""}),
        _b64json({"sk": {"S": "LEDGER#"}}),
        _b64json({"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "LEDGER#"}),
        _b64json({"sk": "LEDGER#" + "9" * 250}),
        _b64("R#"),
        _b64("R#\x00"),
        _b64("R#\ud800"),
        _b64("R#" + "~" * 140),
        _b64(b"R#\xff\xfe"),
        _b64("BATCH#x"),
        _b64("null"),
        _b64("[]"),
        _b64('"x"'),
        _b64(b"\xff\xfe\x00"),
        _b64json(["pk", "sk"]),
        "!!!",
        "====",
        "",
        " ",
        "a",
        "YQ",  # unpadded
        "e30",  # {} unpadded
        "eyJzayI6IkxFREdFUiMifQ+/",  # the standard alphabet's + and /
        "é",
        "\x00",
        "A" * 199,
        "A" * 401,
        "A" * 1999,
        "A" * 2001,
    ]
    return st.sampled_from(forged + list(k.genuine_cursors.values()))


def hostile(known: Known, max_len: int = 100_000) -> st.SearchStrategy[Any]:
    """Anything a field should not be given."""
    wrong_types: st.SearchStrategy[Any] = st.none() | st.booleans() | st.just([]) | st.just({}) | small_json()
    many = st.builds(
        lambda item, n: [item] * n,
        st.sampled_from([None, 0, "", "+14155550100", {"phone_number": "+14155550100"}, {}]),
        st.sampled_from([1_001, 10_001, 20_001]),
    )
    return st.one_of(
        wrong_types,
        numbers(),
        odd_text(),
        repeated(max_len),
        dates(),
        ids(known),
        cursors(known),
        st.sampled_from([Raw(d) for d in DEEP_RAWS]),
        many,
    )


def hostile_text(known: Known) -> st.SearchStrategy[Any]:
    """Anything a path or query value should not be, short enough for a URL (under 64 KB)."""
    return st.one_of(
        numbers().map(as_text),
        odd_text().map(as_text),
        repeated(3_000),
        dates(),
        ids(known),
        cursors(known),
        st.sampled_from(
            [Encoded(e) for e in ("%ED%A0%80", "%FF%FE", "%00", "%", "%2", "%ZZ", "%2F..%2F", "%C0%AF")]
        ),
    )


# Webhook URLs the fuzz gives: none needs a DNS lookup (CI resolves no names, and a lookup may take
# seconds to fail). Each is refused before its host is looked up, or names this machine by an IP
# literal, so the deliveries it causes stay here (test_no_fuzzed_webhook_url_needs_a_dns_lookup).
HOSTILE_URLS = [
    "",
    " ",
    "http://",
    "https://",
    "http:///fuzz",
    "//127.0.0.1/",
    "127.0.0.1",
    "http:127.0.0.1",
    "ftp://127.0.0.1/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,x",
    "gopher://127.0.0.1:25/_x",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.0.0.1./",
    "http://" + "1." * 1000 + "1/",
    "http://127.0.0.1:0/",
    "http://127.0.0.1:65536/",
    "http://127.0.0.1:-1/",
    "http://127.0.0.1:x/",
    "http://127.0.0.1:" + "9" * 30 + "/",
    "http://[::1",
    "http://[zz]/",
    "http://[]/",
    "http://[127.0.0.1]/",
    "http://[::1]:9/x",  # accepted: loopback, the discard port (nothing serves it here)
    "http://%31%32%37.0.0.1/",
    "http://a..b/",
    "http://" + "a" * 64 + "/",
    "http://\u202e127.0.0.1/",
    "http://127.0.0.1/\x00",
    "http://127.0.0.1/\u2028",
    "http://127.0.0.1\\@x/",
]


def valid_urls(hooks: KnownWebhooks) -> list[str]:
    return [hooks.url, hooks.url + "?source=fuzz&é=1"]


def webhook_url_cases(hooks: KnownWebhooks) -> list[str]:
    at = hooks.url  # http://127.0.0.1:<port>/fuzz
    port = at.split(":")[2].split("/")[0]
    return [
        *HOSTILE_URLS,
        *valid_urls(hooks),
        at + "#fragment",
        at + " x",
        at + "/\t",
        at + "?" + "a" * 2100,
        at + "/" + "a" * (2047 - len(at)),  # 2,048 characters: accepted
        at.replace("http:", "https:"),  # accepted
        at.upper(),
        at + "?q=%ZZ&%00",
        f"http://[::ffff:127.0.0.1]:{port}/fuzz",
        f"http://user:secret@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}:{port}/",
        f"http://127.0.0.1:{port}@127.0.0.2/",
    ]


SUBSCRIBABLE = list(get_args(SubscribableName))
EVENT_NAMES = list(get_args(EventName))
ODD_EVENT_NAMES = ["webhook.test", "BATCH.COMPLETED", "batch.*", "*", "batch.completed ", ""]


def event_lists() -> st.SearchStrategy[Any]:
    names = st.sampled_from(SUBSCRIBABLE + ODD_EVENT_NAMES) | odd_text()
    too_many = st.sampled_from([11, 1_000]).map(lambda n: ["credits.low"] * n)
    return st.lists(names, max_size=12) | too_many


def webhook_ids(known: Known) -> st.SearchStrategy[str]:
    """Ids that name no endpoint of the caller's, some of them close to one that does."""
    h = known.hooks
    return st.sampled_from(
        [
            "wh_" + "0" * 24,
            h.webhook.upper(),
            h.webhook[:-1],
            f" {h.webhook} ",
            f"{h.webhook}\x00",
            f"WEBHOOK#{h.webhook}",
            f"{h.webhook}/deliveries",
            f"../{h.webhook}",
            h.delivery,
            f"DELIVERY#{h.delivery}",
            "WEBHOOK_COUNT",
            "a" * 100,
            "a" * 101,
            "é" * 100,
            "😀" * 100,
            known.other_batch,
        ]
    )


def event_cursors(known: Known) -> st.SearchStrategy[str]:
    """Cursors aimed at the event log's and the deliveries' keys, and every other."""
    h = known.hooks
    forged = [
        _b64json({"sk": "EVENT#"}),
        _b64json({"sk": "EVENT#\uffff"}),
        _b64json({"sk": "EVENT#\ud800"}),
        _b64json({"sk": "EVENT#" + "9" * 400}),
        _b64json({"sk": "EVENT#" + "9" * 1_100}),
        _b64json({"sk": {"S": "EVENT#"}}),
        _b64json({"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "EVENT#"}),
        _b64json({"sk": "DELIVERY#"}),
        _b64json({"sk": "DELIVERY#" + "~" * 400}),
        _b64json({"sk": f"DELIVERY#{h.other_delivery}"}),
        _b64json({"pk": f"WEBHOOK#{h.other}", "sk": "DELIVERY#"}),
        _b64json({"sk": f"WEBHOOK#{h.other}"}),
        _b64json({"sk": "WEBHOOK_COUNT"}),
    ]
    return st.sampled_from(forged) | cursors(known)


def aimed_values(known: Known) -> dict[str, st.SearchStrategy[Any]]:
    """Hostile values aimed at what a field holds."""
    return {
        "scheduled_at": dates(),
        "recurrence_end_date": dates(),
        "updated_since": dates(),
        "batch_id": ids(known),
        "parent_batch_id": ids(known),
        "cursor": cursors(known),
        "timezone": st.sampled_from(ZONES),
        "caller_id": st.sampled_from(PHONES),
        "phone_number": st.sampled_from(PHONES),
        "recipients_csv": st.sampled_from(CSVS),
        "csv": st.sampled_from(CSVS),
        "numbers": st.lists(st.sampled_from(PHONES) | odd_text(), min_size=1, max_size=5),
        "recipient_ids": st.lists(ids(known) | odd_text(), min_size=1, max_size=3),
        "variables": st.dictionaries(odd_text().map(as_text), st.text(max_size=5), max_size=3),
        "url": st.sampled_from(webhook_url_cases(known.hooks)),
        "events": event_lists(),
        "description": repeated(1_001) | odd_text(),
    }


AIMED_FIELDS = frozenset(
    [
        "scheduled_at",
        "recurrence_end_date",
        "updated_since",
        "batch_id",
        "parent_batch_id",
        "cursor",
        "timezone",
        "caller_id",
        "phone_number",
        "recipients_csv",
        "csv",
        "numbers",
        "recipient_ids",
        "variables",
        "url",
        "events",
        "description",
    ]
)


def field_hostile(name: str, known: Known) -> st.SearchStrategy[Any]:
    """Hostile values for one field, half of them aimed at what it holds."""
    aimed = aimed_values(known)
    generic = hostile(known)
    return st.one_of(aimed[name], generic) if name in aimed else generic


# -- valid-looking bodies -----------------------------------------------------------------------

ACTION_MODELS: dict[str, type[BaseModel]] = {
    get_args(model.model_fields["action"].annotation)[0]: model
    for model in get_args(get_args(ActionRequest)[0])
}
BODY_MODELS: dict[str, type[BaseModel]] = {
    **ACTION_MODELS,
    "upload": UploadBatchRequest,
    "suppression": SuppressionAddRequest,
    "webhook": WebhookCreateRequest,
    "webhook update": WebhookUpdateRequest,
}

RECIPIENT_LISTS = [
    [{"phone_number": "+14155550110"}],
    [
        {"phone_number": "+14155550111", "name": "Ann", "sort_order": 2, "timezone": "America/Los_Angeles"},
        {"phone_number": "(415) 555-0112", "variables": {"plan": "gold"}},
    ],
]
SPEC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "agent_id": st.sampled_from(["agent-demo", "a.b:c_d-1"]),
    "default_country": st.sampled_from(["US", "gb"]),
    "skip_invalid": st.booleans(),
    "dry_run": st.booleans(),
    "window_start_time": st.sampled_from(["00:00", "09:30"]),
    "window_end_time": st.sampled_from(["23:59", "17:00"]),
    "window_days": st.sampled_from([[0, 1, 2, 3, 4, 5, 6], [1]]),
    "timezone": st.sampled_from(["UTC", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"]),
    "window_timezone": st.sampled_from(["batch", "recipient"]),
    "retry_policy": st.sampled_from([None, {"on": ["busy"], "max_attempts": 2, "delay_minutes": 0}]),
    "reserved_concurrency": st.integers(0, 5),
    "max_concurrency": st.integers(1, 20),
    "purpose": st.just("Remind about the appointment"),
    "goal": st.just("Confirm"),
    "recurrence_type": st.sampled_from(["none", "hourly", "daily", "weekly", "monthly"]),
    "recurrence_interval": st.integers(1, 1000),
    "recurrence_end_date": st.just("2100-01-01T00:00:00Z"),
    "recurrence_max_runs": st.integers(1, 3),
}
# Drafts or far-future schedules: the fuzz's batches never dial unless a mutation makes them.
SCHEDULES = [{"status": "draft"}, {"send_now": False, "scheduled_at": FAR}]


def _spec(with_recipients: bool) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {
        "name": st.sampled_from(["fuzz", "Fuzz — ünïcode 😀"]),
        "caller_id": st.sampled_from([DEMO_CALLER_ID, "(604) 555-1234"]),
    }
    if with_recipients:
        lists = st.sampled_from(RECIPIENT_LISTS).map(lambda r: {"recipients": r})
        csv = st.just({"recipients_csv": "phone_number,name\n+14155550120,Bo\n"})
        extra = lists | csv
    else:
        extra = st.just({})
    optional = {
        k: v for k, v in SPEC_FIELDS.items() if with_recipients or k not in ("recurrence_type", "dry_run")
    }
    fields = st.fixed_dictionaries(required, optional=optional)
    return st.tuples(fields, extra, st.sampled_from(SCHEDULES)).map(
        lambda parts: {**parts[0], **parts[1], **parts[2]}
    )


def _update_fields(known: Known) -> st.SearchStrategy[dict[str, Any]]:
    updatable = {
        k: v
        for k, v in SPEC_FIELDS.items()
        if k not in ("default_country", "skip_invalid", "dry_run", "recurrence_type")
    }
    return st.fixed_dictionaries(
        {"batch_id": st.sampled_from([known.draft, known.parent])},
        optional={
            **updatable,
            "name": st.just("renamed"),
            "scheduled_at": st.just(FAR),
            "send_now": st.booleans(),
        },
    )


def _webhook_fields(hooks: KnownWebhooks, update: bool) -> st.SearchStrategy[dict[str, Any]]:
    url = st.sampled_from(valid_urls(hooks))
    fields = {
        "events": st.lists(st.sampled_from(SUBSCRIBABLE), min_size=1, max_size=10),
        "description": st.sampled_from(["fuzz", "Fuzz — ünïcode 😀", "d" * 500]),
    }
    if update:
        return st.fixed_dictionaries(
            {}, optional={"url": url, **fields, "status": st.sampled_from(["enabled", "disabled"])}
        )
    return st.fixed_dictionaries({"url": url}, optional=fields)


def valid_fields(kind: str, known: Known) -> st.SearchStrategy[dict[str, Any]]:
    if kind in ("webhook", "webhook update"):
        return _webhook_fields(known.hooks, update=kind == "webhook update")
    # State-changing actions get the spare batches, so update keeps its draft.
    changeable = st.sampled_from([known.spare, known.scheduled, known.parent, known.other_batch])
    if kind in ("create", "preview"):
        return _spec(with_recipients=True)
    if kind == "upload":
        return _spec(with_recipients=False)
    if kind == "suppression":
        return st.fixed_dictionaries(
            {"numbers": st.just(["+14155550190"])},
            optional={
                "reason": st.just("asked"),
                "default_country": st.just("US"),
                "skip_invalid": st.booleans(),
            },
        )
    if kind == "update":
        return _update_fields(known)
    if kind == "get":
        return st.fixed_dictionaries(
            {"batch_id": st.sampled_from([known.draft, known.parent, known.other_batch])}
        )
    if kind == "list":
        statuses = st.sampled_from(["draft", "scheduled", "recurring"])
        return st.fixed_dictionaries(
            {}, optional={"status": statuses, "limit": st.integers(1, 200), "offset": st.integers(0, 3)}
        )
    if kind == "list_runs":
        return st.fixed_dictionaries(
            {"parent_batch_id": st.just(known.parent)}, optional={"limit": st.integers(1, 200)}
        )
    if kind == "start":
        return st.fixed_dictionaries(
            {"batch_id": changeable},
            optional={
                "only_statuses": st.just(["failed"]),
                "recipient_ids": st.just(known.recipient_ids[:1]),
            },
        )
    return st.fixed_dictionaries({"batch_id": changeable})


EXTRA_NAMES = [
    "",
    " ",
    "__proto__",
    "constructor",
    "action ",
    "ACTION",
    "batchId",
    "x" * 1000,
    "\x00",
    "😀",
    "status",
]


@st.composite
def mutated_body(draw: st.DrawFn, kind: str, known: Known) -> Any:
    """A valid-looking body of ``kind`` with one field made hostile, added, or dropped."""
    body: dict[str, Any] = dict(draw(valid_fields(kind, known)))
    if kind in ACTION_MODELS:
        body = {"action": kind, **body}
    names = list(BODY_MODELS[kind].model_fields)
    how = draw(st.sampled_from(["replace", "replace", "replace", "nested", "extra", "drop"]))
    if how == "replace" or (how == "nested" and not body.get("recipients")):
        # Half the time a field with aimed values (dates, ids, cursors, zones, numbers).
        aimed = [n for n in names if n in AIMED_FIELDS]
        name = draw(st.sampled_from(names) | st.sampled_from(aimed or names))
        body[name] = draw(field_hostile(name, known))
    elif how == "nested":
        recipient = dict(body["recipients"][0])
        name = draw(st.sampled_from(["phone_number", "name", "sort_order", "timezone", "variables", "extra"]))
        recipient[name] = draw(field_hostile(name, known))
        body["recipients"] = [recipient, *body["recipients"][1:]]
    elif how == "extra":
        body[draw(st.sampled_from(EXTRA_NAMES))] = draw(hostile(known))
    elif body:
        body.pop(draw(st.sampled_from(sorted(body))))
    return body


def random_body(kind: str) -> st.SearchStrategy[Any]:
    anything = small_json()
    if kind not in ACTION_MODELS:
        return anything
    return anything | st.dictionaries(st.text(max_size=12), anything, max_size=6).map(
        lambda d: {**d, "action": kind}
    )


@st.composite
def action_calls(draw: st.DrawFn, action: str, known: Known) -> Call:
    """(a) a valid-looking body with one field made hostile, or (b) random JSON."""
    random = draw(st.integers(0, 7)) == 0
    body = draw(random_body(action) if random else mutated_body(action, known))
    headers: dict[str, str] = {}
    if action == "create" and draw(st.booleans()):
        keys = st.uuids().map(str) | st.sampled_from(["k", "x" * 255, "x" * 256, "", "é"])
        headers["Idempotency-Key"] = draw(keys)
    path = draw(st.sampled_from(ACTION_PATHS))
    return json_call(path, body, ascii_only=draw(st.booleans()), headers=headers)


# -- the fuzz: every action ---------------------------------------------------------------------


def test_every_action_is_fuzzed() -> None:
    assert sorted(ACTION_MODELS) == sorted(name for name in ACTION_NAMES if name != "body")


@pytest.mark.parametrize("action", sorted(ACTION_MODELS))
@FUZZ
@given(data=st.data())
def test_hostile_action_bodies_are_answered_below_500_within_5_s(
    fuzz: Fuzz, action: str, data: st.DataObject
) -> None:
    fuzz.send(data.draw(action_calls(action, fuzz.known), label="call"))


# -- the fuzz: every route ----------------------------------------------------------------------

RECIPIENT_STATUSES = ["pending", "completed", "no_answer"]


def _query(draw: st.DrawFn, known: Known, valid: Mapping[str, st.SearchStrategy[Any]]) -> str:
    """Each of the route's parameters left out, valid or hostile; sometimes one it does not take."""
    pairs: list[tuple[str, Any]] = []
    for name, good in valid.items():
        choice = draw(st.sampled_from(["omit", "valid", "hostile"]))
        if choice != "omit":
            pairs.append((name, draw(good if choice == "valid" else field_hostile_text(name, known))))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(st.sampled_from(["limit", "cursor", "x", "", "é"])), draw(hostile_text(known))))
    return query_string(pairs)


def field_hostile_text(name: str, known: Known) -> st.SearchStrategy[Any]:
    aimed = {
        "cursor": cursors(known),
        "updated_since": dates(),
        "since": dates(),
        "type": st.sampled_from(ODD_EVENT_NAMES),
        "limit": numbers().map(as_text),
    }
    return st.one_of(aimed[name], hostile_text(known)) if name in aimed else hostile_text(known)


def _batch_path(draw: st.DrawFn, known: Known, suffix: str = "") -> str:
    good = st.sampled_from([known.draft, known.scheduled, known.parent, known.spare, known.other_batch])
    batch_id = draw(st.one_of(good, hostile_text(known)))
    return f"/batch-calls/{url_part(batch_id)}{suffix}"


def _number_path(draw: st.DrawFn, known: Known) -> str:
    number = draw(
        st.sampled_from([known.suppressed, known.other_suppressed, "+14155550199"])
        | st.sampled_from(PHONES)
        | hostile_text(known)
    )
    return f"/account/suppression/{url_part(number)}"


def _key(draw: st.DrawFn) -> str | None:
    """Mostly the demo key; sometimes another account's, none, or a mangled header."""
    mangled = [
        "Bearer",
        "Bearer ",
        "bearer local-dev-key",
        "Bearer local-dev-key ",
        "Basic bG9jYWw6ZGV2",
        "Bearer " + "a" * 8000,
        "Bearer é",
        "Bearer \t",
    ]
    return draw(st.sampled_from(["demo"] * 6 + ["other", None]) | st.sampled_from(mangled))


@st.composite
def route_calls(draw: st.DrawFn, route: str, known: Known) -> Call:
    method, path = route.split(" ", 1)
    limit = st.integers(1, 100).map(str)
    if path in ("/batch-calls/uploads", "/account/suppression") and method == "POST":
        kind = "upload" if path.endswith("uploads") else "suppression"
        body = draw(random_body(kind) if draw(st.integers(0, 5)) == 0 else mutated_body(kind, known))
        return json_call(
            path, body, ascii_only=draw(st.booleans()), key=draw(st.sampled_from(["demo", "other"]))
        )
    if path == "/batch-calls/{batch_id}/recipients":
        valid = {
            "status": st.sampled_from(RECIPIENT_STATUSES),
            "cursor": cursors(known),
            "updated_since": st.just("2020-01-01T00:00:00Z"),
            "limit": limit,
        }
        return Call(
            method,
            _batch_path(draw, known, "/recipients"),
            _query(draw, known, valid),
            key=draw(st.just("demo") | st.just("other")),
        )
    if path.startswith("/batch-calls/{batch_id}"):
        return Call(
            method,
            _batch_path(draw, known, path.removeprefix("/batch-calls/{batch_id}")),
            _query(draw, known, {}),
        )
    if path == "/account/suppression/{phone_number}":
        return Call(method, _number_path(draw, known), _query(draw, known, {}))
    if path in ("/account/ledger", "/account/suppression"):
        return Call(method, path, _query(draw, known, {"cursor": cursors(known), "limit": limit}))
    if path.startswith(("/account/events", "/account/webhooks")):
        return draw(event_route_calls(route, known))
    public = path in ("/health", "/openapi.json")
    key = draw(st.sampled_from([None, "demo"])) if public else _key(draw)
    return Call(method, path, _query(draw, known, {}), key=key)


def _event_query(known: Known) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "since": st.sampled_from(["2020-01-01T00:00:00Z", "2020-01-01T00:00:00+14:00", FAR]),
        "type": st.sampled_from(EVENT_NAMES),
        "batch_id": st.sampled_from([known.spare, known.draft, known.other_batch]),
        "cursor": event_cursors(known),
        "limit": st.integers(1, 500).map(str),
    }


def _webhook_path(draw: st.DrawFn, known: Known, method: str, path: str) -> str:
    hooks = known.hooks
    # DELETE gets the spare endpoint or ids that name none: the others stay for the rest of the fuzz.
    existing = [hooks.spare] if method == "DELETE" else [hooks.webhook, hooks.spare, hooks.other]
    webhook_id = draw(st.sampled_from(existing) | webhook_ids(known) | hostile_text(known))
    path = path.replace("{webhook_id}", url_part(webhook_id))
    if "{delivery_id}" in path:
        deliveries = st.sampled_from([hooks.delivery, hooks.other_delivery])
        delivery_id = draw(deliveries | webhook_ids(known) | hostile_text(known))
        path = path.replace("{delivery_id}", url_part(delivery_id))
    return path


WEBHOOK_BODIES = {
    "POST /account/webhooks": "webhook",
    "PATCH /account/webhooks/{webhook_id}": "webhook update",
}


@st.composite
def event_route_calls(draw: st.DrawFn, route: str, known: Known) -> Call:
    """The event log's and the webhook endpoints' routes, with either account's key (an
    endpoint of the other account is a 404)."""
    method, template = route.split(" ", 1)
    key = draw(st.sampled_from(["demo", "demo", "other"]))
    path = _webhook_path(draw, known, method, template) if "{webhook_id}" in template else template
    if route in WEBHOOK_BODIES:
        kind = WEBHOOK_BODIES[route]
        body = draw(random_body(kind) if draw(st.integers(0, 5)) == 0 else mutated_body(kind, known))
        return json_call(path, body, ascii_only=draw(st.booleans()), key=key, method=method)
    valid: dict[str, st.SearchStrategy[Any]] = {}
    if template == "/account/events":
        valid = _event_query(known)
    elif template.endswith("/deliveries"):
        valid = {"cursor": event_cursors(known), "limit": st.integers(1, 200).map(str)}
    return Call(method, path, _query(draw, known, valid), key=key)


WEBHOOK = "POST /webhooks/twilio/status"
EVENT_ROUTES = [
    "GET /account/events",
    "POST /account/webhooks",
    "GET /account/webhooks",
    "GET /account/webhooks/{webhook_id}",
    "PATCH /account/webhooks/{webhook_id}",
    "DELETE /account/webhooks/{webhook_id}",
    "POST /account/webhooks/{webhook_id}/rotate-secret",
    "POST /account/webhooks/{webhook_id}/test",
    "GET /account/webhooks/{webhook_id}/deliveries",
    "POST /account/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
]
ROUTES = [
    "GET /batch-calls/csv-template",
    "GET /batch-calls/{batch_id}",
    "GET /batch-calls/{batch_id}/recipients",
    "GET /batch-calls/{batch_id}/export.csv",
    "POST /batch-calls/uploads",
    "GET /account",
    "GET /account/ledger",
    "GET /account/suppression",
    "POST /account/suppression",
    "GET /account/suppression/{phone_number}",
    "DELETE /account/suppression/{phone_number}",
    "GET /health",
    "GET /openapi.json",
    *EVENT_ROUTES,
]


def test_every_route_of_the_template_is_fuzzed(fuzz: Fuzz) -> None:
    served = {f"{r.method} {r.path}" for r in fuzz.stack.api.routes}
    fuzzed = {*ROUTES, WEBHOOK, *(f"POST {p}" for p in ACTION_PATHS)}
    assert served == fuzzed


@pytest.mark.parametrize("route", ROUTES)
@FUZZ
@given(data=st.data())
def test_hostile_requests_to_every_route_are_answered_below_500_within_5_s(
    fuzz: Fuzz, route: str, data: st.DataObject
) -> None:
    fuzz.send(data.draw(route_calls(route, fuzz.known), label="call"))


def test_no_fuzzed_webhook_url_needs_a_dns_lookup(fuzz: Fuzz) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} would be looked up")

    poster = WebhookPoster(allow_private=True, resolve=no_dns)
    for url in webhook_url_cases(fuzz.known.hooks):
        try:
            target = poster.check(url)
        except ValueError:  # UnsafeWebhookUrl, or urlsplit's own (a bracket left open)
            continue
        address = ipaddress.ip_address(target.host)
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        assert (mapped or address).is_loopback, f"{url!r} would be delivered to {address}"


@st.composite
def webhook_calls(draw: st.DrawFn, known: Known) -> Call:
    names = ["batch_id", "rk", "ticket"]
    query = [
        (n, draw(st.sampled_from([known.spare, "R#0001", "t"]) | hostile_text(known)))
        for n in names
        if draw(st.integers(0, 4))
    ]
    form = draw(
        st.dictionaries(
            st.sampled_from(["CallSid", "CallStatus", "CallDuration", "AnsweredBy", "SipResponseCode", "x"]),
            odd_text().map(as_text) | st.sampled_from(["completed", "busy", "9" * 5000, "-1"]),
            max_size=5,
        )
    )
    body = draw(
        st.sampled_from(
            [
                urlencode(form).encode(),
                b"\xff\xfe\x00",
                b"%ff=%fe",
                b"=&=&",
                b"a" * 100_000,
                DEEP_LIST.encode()[:20_000],
                b"",
            ]
        )
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    signature = draw(st.sampled_from([None, "", "x", "a" * 5000, base64.b64encode(b"0" * 20).decode()]))
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return Call("POST", "/webhooks/twilio/status", query_string(query), body, headers, key=None)


@FUZZ
@given(data=st.data())
def test_unsigned_status_callbacks_are_a_4xx(fuzz: Fuzz, data: st.DataObject) -> None:
    call = data.draw(webhook_calls(fuzz.known), label="call")
    resp = fuzz.send(call)
    assert 400 <= resp.status_code < 500, f"{call!r} → {resp.status_code}: an unsigned callback was applied"


# -- whole bodies that are not JSON objects, for every JSON route -------------------------------

RAW_BODIES: dict[str, bytes] = {
    "empty": b"",
    "null": b"null",
    "list": b"[]",
    "number": b"1",
    "string": b'"create"',
    "open brace": b"{",
    "cut short": b'{"action":',
    "bom": b'\xef\xbb\xbf{"action":"list"}',
    "not utf-8": b"\xff\xfe\x00{",
    "utf-16": '{"action":"list"}'.encode("utf-16"),
    "duplicate keys": b'{"action":"list","action":"get"}',
    "trailing garbage": b'{"action":"list"} x',
    "100 KB of spaces": b'{"action":"list"}' + b" " * 100_000,
    "NaN": b"NaN",
    "NUL": b"\x00",
    "lone surrogate key": b'{"\\ud800":1,"action":"list"}',
    "lone surrogate action": b'{"action":"\\ud800"}',
    "limit 1e309": b'{"action":"list","limit":1e309}',
    "limit NaN": b'{"action":"list","limit":NaN}',
    "limit of 5000 digits": b'{"action":"list","limit":' + b"9" * 5000 + b"}",
    "100,000-deep list": DEEP_LIST.encode(),
    "100,000-deep object": DEEP_OBJECT.encode(),
    "deep in a field": b'{"action":"create","recipients":' + DEEP_LIST.encode() + b"}",
}
JSON_ROUTES = [*ACTION_PATHS, "/batch-calls/uploads", "/account/suppression"]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("name", list(RAW_BODIES))
def test_bodies_that_are_not_json_objects_are_a_400(fuzz: Fuzz, path: str, name: str) -> None:
    resp = fuzz.send(Call("POST", path, body=RAW_BODIES[name], headers={"Content-Type": "application/json"}))
    if name not in ("bom", "duplicate keys", "100 KB of spaces"):
        assert resp.status_code == 400, f"{name} → {resp.status_code} {resp.text[:200]}"


# -- the failures the issue names (regression tests) --------------------------------------------

EDGE_MOMENTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-12:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-12:00",
]


def _dated_call(known: Known, where: str, moment: str) -> Call:
    spec = {"name": "edge", "caller_id": DEMO_CALLER_ID, "send_now": False, "scheduled_at": FAR}
    recipients = {"recipients": [{"phone_number": "+14155550130"}]}
    calls = {
        "create scheduled_at": json_call(
            "/batch-calls", {"action": "create", **spec, **recipients, "scheduled_at": moment}
        ),
        "create recurrence_end_date": json_call(
            "/batch-calls",
            {
                "action": "create",
                **spec,
                **recipients,
                "recurrence_type": "daily",
                "recurrence_end_date": moment,
            },
        ),
        "preview scheduled_at": json_call(
            "/batch-calls", {"action": "preview", **spec, **recipients, "scheduled_at": moment}
        ),
        "upload scheduled_at": json_call(
            "/batch-calls/uploads", {**spec, "status": "draft", "scheduled_at": moment}
        ),
        "update scheduled_at": json_call(
            "/batch-calls", {"action": "update", "batch_id": known.draft, "scheduled_at": moment}
        ),
        "update recurrence_end_date": json_call(
            "/batch-calls", {"action": "update", "batch_id": known.parent, "recurrence_end_date": moment}
        ),
        "recipients updated_since": Call(
            "GET", f"/batch-calls/{known.spare}/recipients", query_string([("updated_since", moment)])
        ),
    }
    return calls[where]


@pytest.mark.parametrize("moment", EDGE_MOMENTS)
@pytest.mark.parametrize(
    "where",
    [
        "create scheduled_at",
        "create recurrence_end_date",
        "preview scheduled_at",
        "upload scheduled_at",
        "update scheduled_at",
        "update recurrence_end_date",
        "recipients updated_since",
    ],
)
def test_dates_at_the_calendars_edges_are_not_a_5xx(fuzz: Fuzz, where: str, moment: str) -> None:
    resp = fuzz.send(_dated_call(fuzz.known, where, moment))
    if where in ("create scheduled_at", "upload scheduled_at", "update scheduled_at") and moment.startswith(
        "0001"
    ):
        assert resp.status_code == 400 and "scheduled_at" in resp.json()["error"], resp.text


@pytest.mark.parametrize("recurrence_type", ["hourly", "daily", "weekly", "monthly"])
def test_a_series_whose_next_run_is_past_year_9999_is_a_400(fuzz: Fuzz, recurrence_type: str) -> None:
    body = {
        "action": "create",
        "name": "last minute of the calendar",
        "caller_id": DEMO_CALLER_ID,
        "recipients": [{"phone_number": "+14155550131"}],
        "send_now": False,
        "scheduled_at": "9999-12-31T23:59:00Z",
        "recurrence_type": recurrence_type,
    }
    resp = fuzz.send(json_call("/batch-calls", body))
    # Not a recurring parent whose second run can never be scheduled.
    assert resp.status_code == 400, resp.text[:300]
    assert re.search(r"scheduled_at|recurrence", resp.json()["error"]), resp.text


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("shape", ["list", "object"])
def test_a_100000_deep_json_body_is_a_400(fuzz: Fuzz, path: str, shape: str) -> None:
    text = DEEP_LIST if shape == "list" else DEEP_OBJECT
    resp = fuzz.send(Call("POST", path, body=text.encode(), headers={"Content-Type": "application/json"}))
    assert resp.status_code == 400, resp.text[:300]


LONG_ID = "b" * 3000


LONG_ID_CALLS = {
    "GET batch": Call("GET", f"/batch-calls/{LONG_ID}"),
    "GET recipients": Call("GET", f"/batch-calls/{LONG_ID}/recipients"),
    "GET export.csv": Call("GET", f"/batch-calls/{LONG_ID}/export.csv"),
    "GET suppressed number": Call("GET", f"/account/suppression/{LONG_ID}"),
    "DELETE suppressed number": Call("DELETE", f"/account/suppression/{LONG_ID}"),
    **{
        a: json_call("/batch-calls", {"action": a, "batch_id": LONG_ID})
        for a in ("get", "start", "cancel", "update")
    },
    "list_runs": json_call("/batch-calls", {"action": "list_runs", "parent_batch_id": LONG_ID}),
}


@pytest.mark.parametrize("name", list(LONG_ID_CALLS))
def test_a_3000_character_id_is_a_4xx(fuzz: Fuzz, name: str) -> None:
    resp = fuzz.send(LONG_ID_CALLS[name])
    assert 400 <= resp.status_code < 500, resp.text[:300]


def _other_keys(known: Known) -> dict[str, str]:
    return {
        "pk": f"BATCH#{known.other_batch}",
        "sk": "META",
        "gsi1pk": f"OWNER#{OTHER_ACCOUNT}",
        "gsi1sk": f"{known.other_batch_created_at}#{known.other_batch}",
    }


LIST_CURSORS = {
    "the other account's next_cursor": lambda k: k.genuine_cursors["list of other"],
    "the other account's batch": lambda k: _b64json(_other_keys(k)),
    "another account's profile": lambda k: _b64json(
        {"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "PROFILE", "gsi1pk": f"OWNER#{OTHER_ACCOUNT}", "gsi1sk": "~"}
    ),
    "our profile": lambda k: _b64json(
        {
            "pk": f"ACCOUNT#{DEMO_ACCOUNT_ID}",
            "sk": "PROFILE",
            "gsi1pk": f"OWNER#{DEMO_ACCOUNT_ID}",
            "gsi1sk": "~",
        }
    ),
    "empty keys": lambda k: _b64json({"pk": "", "sk": "", "gsi1pk": "", "gsi1sk": ""}),
    "keys that are not strings": lambda k: _b64json({"pk": 1, "sk": None, "gsi1pk": [], "gsi1sk": {}}),
    "a ledger cursor": lambda k: k.genuine_cursors["ledger of demo"],
}


@pytest.mark.parametrize("name", list(LIST_CURSORS))
def test_a_list_cursor_naming_another_key_shows_nothing_of_another_account(fuzz: Fuzz, name: str) -> None:
    resp = fuzz.send(json_call("/batch-calls", {"action": "list", "cursor": LIST_CURSORS[name](fuzz.known)}))
    if resp.status_code == 200:
        owners = {b["user_id"] for b in resp.json()["batches"]}
        assert owners <= {DEMO_ACCOUNT_ID}, owners


PAGE_CURSORS: dict[str, tuple[str, str | dict[str, str]]] = {
    "ledger, the other account's next_cursor": ("/account/ledger", "ledger of other"),
    "ledger, a suppression cursor": ("/account/ledger", "suppression of demo"),
    "ledger, the profile": ("/account/ledger", {"sk": "PROFILE"}),
    "ledger, the other account's keys": (
        "/account/ledger",
        {"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "LEDGER#"},
    ),
    "suppression, the other account's next_cursor": ("/account/suppression", "suppression of other"),
    "suppression, a ledger cursor": ("/account/suppression", "ledger of demo"),
    "suppression, the credits item": ("/account/suppression", {"sk": "CREDITS"}),
    "suppression, an empty key": ("/account/suppression", {"sk": ""}),
    "recipients, another batch's next_cursor": ("recipients", "recipients of other"),
    "recipients, a batch key": ("recipients", "BATCH#x"),
    "events, the other account's next_cursor": ("/account/events", "events of other"),
    "events, the other account's keys": (
        "/account/events",
        {"pk": f"ACCOUNT#{OTHER_ACCOUNT}", "sk": "EVENT#"},
    ),
    "events, a deliveries cursor": ("/account/events", "deliveries of demo"),
    "deliveries, the other endpoint's next_cursor": ("deliveries", "deliveries of other"),
    "deliveries, an events cursor": ("deliveries", "events of demo"),
}


@pytest.mark.parametrize("name", list(PAGE_CURSORS))
def test_a_page_cursor_naming_another_key_shows_nothing_of_another_account(fuzz: Fuzz, name: str) -> None:
    route, given_cursor = PAGE_CURSORS[name]
    k = fuzz.known
    if isinstance(given_cursor, dict):
        cursor = _b64json(given_cursor)
    else:
        cursor = k.genuine_cursors.get(given_cursor) or _b64(given_cursor)
    paths = {
        "recipients": f"/batch-calls/{k.spare}/recipients",
        "deliveries": f"/account/webhooks/{k.hooks.webhook}/deliveries",
    }
    resp = fuzz.send(Call("GET", paths.get(route, route), query_string([("cursor", cursor)])))
    if resp.status_code == 200:
        assert not _not_ours(route, resp.json(), k), resp.text[:500]


def _not_ours(route: str, page: dict[str, Any], known: Known) -> list[Any]:
    """What a page shows of another account's (or of another batch, another endpoint)."""
    if route == "/account/ledger":
        return [e for e in page["entries"] if e["ref"].startswith("fuzz-other")]
    if route == "/account/suppression":
        return [n for n in page["numbers"] if n["phone_number"] == known.other_suppressed]
    if route == "/account/events":
        return [e for e in page["events"] if e["data"].get("account_id") != DEMO_ACCOUNT_ID]
    if route == "deliveries":
        return [d for d in page["deliveries"] if d["id"] == known.hooks.other_delivery]
    return [r for r in page["recipients"] if r["batch_id"] != known.spare]


def _other_endpoint_calls(hooks: KnownWebhooks) -> dict[str, Call]:
    theirs = f"/account/webhooks/{hooks.other}"
    return {
        "GET": Call("GET", theirs),
        "PATCH": json_call(theirs, {"description": "taken over"}, method="PATCH"),
        "DELETE": Call("DELETE", theirs),
        "rotate-secret": Call("POST", f"{theirs}/rotate-secret"),
        "test": Call("POST", f"{theirs}/test"),
        "deliveries": Call("GET", f"{theirs}/deliveries"),
        "redeliver": Call("POST", f"{theirs}/deliveries/{hooks.other_delivery}/redeliver"),
        "redeliver through ours": Call(
            "POST", f"/account/webhooks/{hooks.webhook}/deliveries/{hooks.other_delivery}/redeliver"
        ),
    }


@pytest.mark.parametrize(
    "name",
    ["GET", "PATCH", "DELETE", "rotate-secret", "test", "deliveries", "redeliver", "redeliver through ours"],
)
def test_an_account_never_reaches_another_accounts_endpoint(fuzz: Fuzz, name: str) -> None:
    hooks = fuzz.known.hooks
    resp = fuzz.send(_other_endpoint_calls(hooks)[name])
    assert resp.status_code == 404, resp.text[:300]
    listed = fuzz.ok(Call("GET", "/account/webhooks"))["webhooks"]
    assert hooks.other not in {w["id"] for w in listed}
    theirs = fuzz.ok(Call("GET", f"/account/webhooks/{hooks.other}", key="other"))["webhook"]
    assert theirs["description"] != "taken over", theirs


# -- failures the fuzz found (regression tests, whatever a run's sample holds) ------------------

# urlsplit raises ValueError itself for these (before check_url's own checks): a 502 if not caught.
BROKEN_IP_LITERALS = ["http://[::1", "http://[zz]/", "http://[]/", "http://[127.0.0.1]/"]


@pytest.mark.parametrize("url", BROKEN_IP_LITERALS)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_webhook_url_with_a_broken_ip_literal_is_a_400(fuzz: Fuzz, method: str, url: str) -> None:
    path = "/account/webhooks" + ("" if method == "POST" else f"/{fuzz.known.hooks.webhook}")
    resp = fuzz.send(json_call(path, {"url": url}, method=method))
    assert resp.status_code == 400, resp.text[:300]


UPDATABLE = [n for n in UpdateBatchRequest.model_fields if n not in ("action", "batch_id")]


@pytest.mark.parametrize("name", UPDATABLE)
def test_update_with_an_explicit_null_is_not_a_5xx(fuzz: Fuzz, name: str) -> None:
    batch_id = fuzz.known.parent if name.startswith("recurrence_") else fuzz.known.draft
    fuzz.send(json_call("/batch-calls", {"action": "update", "batch_id": batch_id, name: None}))


LONG_ZONE = "x" * 256  # longer than a file name may be: ZoneInfo raises OSError, not ValueError


def _zone_calls(known: Known) -> dict[str, Call]:
    spec = {"name": "zone", "caller_id": DEMO_CALLER_ID, "status": "draft"}
    one = [{"phone_number": "+14155550140"}]
    return {
        "create": json_call(
            "/batch-calls", {"action": "create", **spec, "recipients": one, "timezone": LONG_ZONE}
        ),
        "create, a recipient's": json_call(
            "/batch-calls",
            {"action": "create", **spec, "recipients": [{**one[0], "timezone": LONG_ZONE}]},
        ),
        "preview": json_call(
            "/batch-calls", {"action": "preview", **spec, "recipients": one, "timezone": LONG_ZONE}
        ),
        "upload": json_call("/batch-calls/uploads", {**spec, "timezone": LONG_ZONE}),
        "update": json_call(
            "/batch-calls", {"action": "update", "batch_id": known.draft, "timezone": LONG_ZONE}
        ),
    }


@pytest.mark.parametrize("where", ["create", "create, a recipient's", "preview", "upload", "update"])
def test_a_timezone_longer_than_a_file_name_is_a_400(fuzz: Fuzz, where: str) -> None:
    resp = fuzz.send(_zone_calls(fuzz.known)[where])
    assert resp.status_code == 400 and "timezone" in resp.json()["error"], resp.text[:300]


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00", b"CallStatus=completed&CallSid=\xff"], ids=["binary", "latin-1"]
)
def test_a_status_callback_that_is_not_utf_8_is_a_4xx(fuzz: Fuzz, body: bytes) -> None:
    query = query_string([("batch_id", fuzz.known.spare), ("rk", "R#0001"), ("ticket", "t")])
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "c2lnbmF0dXJl"}
    resp = fuzz.send(Call("POST", "/webhooks/twilio/status", query, body, headers, key=None))
    assert 400 <= resp.status_code < 500, resp.text[:300]


ONE_LONG_LINE = {
    "no header": "a" * 100_000,
    "a 100,000-digit number": "phone_number\n" + "9" * 100_000 + "\n",
    "commas": "," * 100_000,
}


@pytest.mark.parametrize("route", ["preview", "create", "suppression"])
@pytest.mark.parametrize("csv", list(ONE_LONG_LINE))
def test_a_csv_of_one_100_kb_line_is_answered_within_5_s(fuzz: Fuzz, route: str, csv: str) -> None:
    text = ONE_LONG_LINE[csv]
    if route == "suppression":
        call = json_call("/account/suppression", {"csv": text})
    else:
        body = {"action": route, "name": "csv", "caller_id": DEMO_CALLER_ID, "status": "draft"}
        call = json_call("/batch-calls", {**body, "recipients_csv": text})
    fuzz.send(call)
