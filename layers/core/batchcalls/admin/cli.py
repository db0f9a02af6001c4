"""``batchcalls-admin``: create accounts, issue and revoke API keys, add voice agents, register
caller IDs, set limits and add credits, against a deployed stack's table or the offline stack's.

Output is for scripts: ``create-account`` prints the account id and ``issue-key`` the key, one
line each; every other command prints one JSON document. Messages go to stderr.

Exit codes: 0 done, 1 not found (account, key, agent, number), 2 bad input, 3 already exists,
4 the stack/table/credentials could not be used, 5 still in use (an agent caller IDs name).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TextIO

from batchcalls.admin import target as targets
from batchcalls.admin.target import OperatorContext, TargetError
from batchcalls.domain.agent_url import agent_key
from batchcalls.domain.billing import MICROS_PER_DOLLAR, dollars
from batchcalls.domain.csv_import import canonical_timezone
from batchcalls.domain.errors import InvalidRequest, NotFound
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from batchcalls.models.api import AGENT_ID, account_out, ledger_page_out
from batchcalls.models.domain import Account, Agent
from batchcalls.services import account as account_service
from batchcalls.services.auth import hash_api_key
from batchcalls.store.accounts import ApiKeyRecord
from batchcalls.store.agents import AgentInUse, CallerIdChangedMeanwhile, UnknownAgent

PROG = "batchcalls-admin"
EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT, EXIT_EXISTS, EXIT_TARGET, EXIT_IN_USE = 0, 1, 2, 3, 4, 5

KEY_PREFIX = "bck_"  # recognisable in logs and by secret scanners; 256 random bits follow
# The SLOTS item holds one map entry per call in progress and must stay far below DynamoDB's
# 400 KB item limit.
MAX_CONCURRENCY_LIMIT = 2000
AUTHORIZER_CACHE_SECONDS = 60  # template.yaml: ReauthorizeEvery


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _not_found(what: str) -> Failure:
    return Failure(EXIT_NOT_FOUND, f"{what} not found")


# -- input checks (argparse ``type=`` functions: argparse names the option in the message) -----

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
_AMOUNT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


def identifier(text: str) -> str:
    if not _ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid id (letters, digits and _ . : @ -, at most 128, no spaces)"
        )
    return text


_AGENT_ID = re.compile(AGENT_ID)


def agent_identifier(text: str) -> str:
    # The API's agent_id pattern: an agent the API could not name would be of no use.
    if not _AGENT_ID.fullmatch(text):  # fullmatch: "$" alone lets a trailing newline through
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid agent id (a letter or digit, then letters, digits and _ . : -, "
            "at most 100)"
        )
    return text


def nonempty(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        value = text.strip()
        if not value:
            raise argparse.ArgumentTypeError("must not be empty")
        if len(value) > limit:
            raise argparse.ArgumentTypeError(f"is longer than {limit} characters")
        return value

    return check


def phone_number(text: str) -> str:
    try:
        return to_e164(text)
    except InvalidPhoneNumber as exc:
        raise argparse.ArgumentTypeError(f"{exc} (give it in E.164, e.g. +16045551234)") from exc


def timezone(text: str) -> str:
    zone = canonical_timezone(text.strip())
    if zone is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an IANA time zone (e.g. America/New_York)")
    return zone


def timezone_or_none(text: str) -> str:
    return "none" if text.strip().lower() == "none" else timezone(text)


def micros(text: str, *, allow_negative: bool) -> int:
    """Dollars as written (``25``, ``25.50``, ``-3.1``) → exact integer micro-dollars."""
    raw = text.strip()
    if not _AMOUNT.match(raw):
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount in dollars (e.g. 25.00)")
    value = Decimal(raw) * MICROS_PER_DOLLAR  # the pattern admits only decimals
    if value != value.to_integral_value():
        raise argparse.ArgumentTypeError(
            f"'{text}' has more than 6 decimal places (amounts are whole micro-dollars)"
        )
    if value < 0 and not allow_negative:
        raise argparse.ArgumentTypeError(f"'{text}' must not be negative")
    return int(value)


def amount(text: str) -> int:
    value = micros(text, allow_negative=True)
    if value == 0:
        raise argparse.ArgumentTypeError("must not be zero")
    return value


def rate(text: str) -> int:
    return micros(text, allow_negative=False)


def concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from exc
    if not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CONCURRENCY_LIMIT}, not {value}")
    return value


def calls_per_second(text: str) -> float:
    raw = text.strip()
    if not _AMOUNT.match(raw):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    value = Decimal(raw)
    if not Decimal(0) < value <= Decimal(1000):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1000, not {text}")
    return float(value)


def page_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from exc
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000, not {value}")
    return value


def key_hash(text: str) -> str:
    value = text.strip().lower()
    if not _HASH.match(value):
        raise argparse.ArgumentTypeError("is not a key hash (64 hex digits, as list-keys shows)")
    return value


# -- output ----------------------------------------------------------------------------------


class Output:
    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err

    def json(self, document: Any) -> None:
        print(json.dumps(document, indent=2), file=self.out)

    def line(self, text: str) -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)


def _key_view(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "key_hash": record.key_hash,
        "account_id": record.account_id,
        "label": record.label,
        "created_at": record.created_at,
        "revoked": record.revoked,
        "revoked_at": record.revoked_at,
    }


def _require_account(ctx: OperatorContext, account_id: str) -> Account:
    account = ctx.accounts.get_account(account_id)
    if account is None:
        raise _not_found(f"account {account_id}")
    return account


# -- commands --------------------------------------------------------------------------------

_PROFILE_OPTIONS = {
    # option dest → Account field
    "name": "name",
    "timezone": "timezone",
    "max_concurrency": "max_concurrency",
    "per_minute_rate": "per_minute_rate_micros",
    "calls_per_second": "calls_per_second",
    "resume_after_top_up": "resume_after_top_up",
    "low_balance_alert": "low_balance_threshold_micros",
    "recipient_events": "recipient_events",
}


def _profile_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        field: getattr(args, dest)
        for dest, field in _PROFILE_OPTIONS.items()
        if getattr(args, dest, None) is not None
    }


def cmd_create_account(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    account_id = args.id or str(uuid.uuid4())
    fields = _profile_fields(args)
    account = Account(id=account_id, **fields)
    if not ctx.accounts.create_account(account):
        raise Failure(EXIT_EXISTS, f"account {account_id} already exists (see update-account)")
    io.line(account_id)
    io.note(f"created account {account_id} ({account.name})")
    return EXIT_OK


def cmd_update_account(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    fields = _profile_fields(args)
    remove = []
    if fields.get("timezone") == "none":
        del fields["timezone"]
        remove.append("timezone")
    if not fields and not remove:
        raise Failure(EXIT_BAD_INPUT, "update-account: nothing to change (give at least one option)")
    if ctx.accounts.update_account(args.account, fields, remove) is None:
        raise _not_found(f"account {args.account}")
    io.json(_account_document(ctx, args.account))
    return EXIT_OK


def _account_document(ctx: OperatorContext, account_id: str) -> dict[str, Any]:
    account = _require_account(ctx, account_id)
    view = account_out(account_service.account_view(ctx, account_id)).model_dump(mode="json")
    # account_view shows the zone in effect; say whether it is the account's or the default.
    view["timezone_source"] = "account" if account.timezone else "default"
    keys = ctx.accounts.api_keys(account_id)
    view["api_keys"] = {
        "active": sum(1 for k in keys if not k.revoked),
        "revoked": sum(1 for k in keys if k.revoked),
    }
    view["slots_in_use"] = len(ctx.slots.holders(account_id) or {})
    return view


def cmd_show_account(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    io.json(_account_document(ctx, args.account))
    return EXIT_OK


def cmd_issue_key(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    key = KEY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits: a collision does not happen…
    digest = hash_api_key(key)
    if not ctx.accounts.put_api_key(digest, args.account, args.label or "", ctx.now_iso(), new=True):
        raise Failure(EXIT_EXISTS, "could not store a new key; try again")  # …but the write is conditional
    io.line(key)
    io.note(
        f"API key for account {args.account} (hash {digest}). Store it now: it is shown only this "
        "once; the table keeps only its SHA-256."
    )
    return EXIT_OK


def cmd_list_keys(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    io.json({"account_id": args.account, "keys": [_key_view(k) for k in ctx.accounts.api_keys(args.account)]})
    return EXIT_OK


def cmd_revoke_key(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    digest = args.hash or hash_api_key(args.key)
    record = ctx.accounts.revoke_api_key(digest, ctx.now_iso())
    if record is None:
        raise _not_found("API key")
    io.json(_key_view(record))
    io.note(
        f"revoked. API Gateway may keep accepting the key for up to {AUTHORIZER_CACHE_SECONDS} s "
        "(the authorizer's cached answer)."
    )
    return EXIT_OK


def cmd_add_agent(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    agent = Agent(id=args.agent, name=args.name or "", description=args.description, created_at=ctx.now_iso())
    if not ctx.agents.add_agent(args.account, agent):
        raise Failure(EXIT_EXISTS, f"account {args.account} already has an agent {args.agent}")
    io.json({"account_id": args.account, **agent.model_dump()})
    return EXIT_OK


def cmd_list_agents(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    naming: dict[str, list[str]] = {}
    for number in ctx.accounts.caller_numbers(args.account):
        if number.agent_id:
            naming.setdefault(number.agent_id, []).append(number.phone_number)
    agents = ctx.agents.agents(args.account)
    known = {agent.id for agent in agents}
    io.json(
        {
            "account_id": args.account,
            "agents": [{**a.model_dump(), "caller_ids": naming.get(a.id, [])} for a in agents],
            # Named by caller IDs registered before agents were recorded: add-agent them, or
            # batches cannot name them in agent_id.
            "unregistered": [
                {"agent_id": agent_id, "caller_ids": numbers}
                for agent_id, numbers in sorted(naming.items())
                if agent_id not in known
            ],
        }
    )
    return EXIT_OK


def cmd_agent_key(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    """The agent's own key (derived from the stack's secret): hand it to that agent's service
    only; it verifies that agent's URLs and no other's."""
    _require_account(ctx, args.account)
    if ctx.agents.get_agent(args.account, args.agent) is None:
        raise _not_found(f"agent {args.agent} of account {args.account}")
    if not ctx.settings.agent_url_secret_arn:
        raise Failure(
            EXIT_TARGET, "which secret? give --stack-name (its AgentUrlSecretArn output) or --local"
        )
    key = agent_key(ctx.agent_url_secret, args.account, args.agent)
    io.json({"account_id": args.account, "agent_id": args.agent, "key": key})
    return EXIT_OK


def cmd_remove_agent(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    try:
        agent = ctx.agents.remove_agent(args.account, args.agent)
    except AgentInUse as exc:
        raise Failure(
            EXIT_IN_USE,
            f"agent {args.agent} is still the agent of caller ID(s) {', '.join(exc.caller_ids)}: point "
            "them at another agent first (add-number --agent OTHER)",
        ) from exc
    if agent is None:
        raise _not_found(f"agent {args.agent} of account {args.account}")
    io.json({"account_id": args.account, **agent.model_dump(), "removed": True})
    io.note("removed. Batches created with it keep its id; new batches cannot name it.")
    return EXIT_OK


def cmd_add_number(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    try:
        number, existed = ctx.agents.point_caller_id(args.account, args.number, args.agent)
    except UnknownAgent as exc:
        raise Failure(
            EXIT_NOT_FOUND,
            f"agent {args.agent} not found in account {args.account} (add it first: add-agent)",
        ) from exc
    except CallerIdChangedMeanwhile as exc:
        raise Failure(EXIT_EXISTS, f"caller ID {args.number} kept changing meanwhile; try again") from exc
    io.json({"account_id": args.account, **number.model_dump(), "replaced": existed})
    return EXIT_OK


def _set_active(ctx: OperatorContext, args: argparse.Namespace, io: Output, active: bool) -> int:
    _require_account(ctx, args.account)
    number = ctx.accounts.set_caller_number_active(args.account, args.number, active)
    if number is None:
        raise _not_found(f"caller ID {args.number} of account {args.account}")
    io.json({"account_id": args.account, **number.model_dump()})
    return EXIT_OK


def cmd_activate_number(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    return _set_active(ctx, args, io, True)


def cmd_deactivate_number(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    code = _set_active(ctx, args, io, False)
    io.note("deactivated: running batches with this caller ID fail at their next dial (within ~30 s).")
    return code


def cmd_add_credits(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    account = _require_account(ctx, args.account)
    if args.amount > 0 and account.resume_after_top_up and not ctx.settings.state_machine_arn:
        waiting = sum(1 for _ in account_service.paused_for_credits(ctx, args.account))
        if waiting:
            raise Failure(
                EXIT_BAD_INPUT,
                f"account {args.account} has {waiting} batch(es) paused for insufficient credits that "
                "this top-up resumes, which needs the state machine: give --stack-name or "
                "--state-machine-arn",
            )
    try:
        result = account_service.add_credits(ctx, args.account, args.amount, ref=args.ref, note=args.note)
    except NotFound as exc:
        raise _not_found(f"account {args.account}") from exc
    except InvalidRequest as exc:
        raise Failure(EXIT_BAD_INPUT, f"--amount: {exc.message}") from exc
    io.json(
        {
            "account_id": args.account,
            "amount_micros": args.amount,
            "amount": dollars(args.amount),
            "balance_micros": result.balance_micros,
            "balance": dollars(result.balance_micros),
            "resumed_batches": result.resumed,
            # False: a top-up with this --ref was applied before, so this one changed nothing.
            "applied": result.applied,
        }
    )
    return EXIT_OK


def cmd_ledger(ctx: OperatorContext, args: argparse.Namespace, io: Output) -> int:
    _require_account(ctx, args.account)
    try:
        page = account_service.ledger_page(ctx, args.account, args.limit, args.cursor)
    except InvalidRequest as exc:
        raise Failure(EXIT_BAD_INPUT, f"--cursor: {exc.message}") from exc
    io.json({"account_id": args.account, **ledger_page_out(page).model_dump(mode="json")})
    return EXIT_OK


# -- the parser ------------------------------------------------------------------------------


def _add_target_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    # Accepted before or after the command; in a subcommand they must not reset what was
    # given before it, hence SUPPRESS there.
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if in_subcommand else {}
    group = parser.add_argument_group("target (which stack)")
    group.add_argument(
        "--stack-name", help="the SAM/CloudFormation stack: its outputs name the table", **default
    )
    group.add_argument("--table", help="the DynamoDB table (default: env TABLE_NAME)", **default)
    group.add_argument("--region", help="AWS region (default: the AWS CLI's configuration)", **default)
    group.add_argument("--profile", help="AWS credentials profile (default: env AWS_PROFILE)", **default)
    group.add_argument(
        "--endpoint-url",
        help="AWS endpoint for every service (default: boto3's, which honours AWS_ENDPOINT_URL)",
        **default,
    )
    group.add_argument(
        "--state-machine-arn",
        help="the batch_run state machine, for resuming batches after a top-up (default: the "
        "stack's output, env STATE_MACHINE_ARN)",
        **default,
    )
    group.add_argument(
        "--local",
        action="store_true",
        help=f"the offline stack of `make dev`: endpoint {targets.LOCAL_ENDPOINT}, region "
        f"{targets.LOCAL_REGION}, dummy credentials, table {targets.LOCAL_TABLE}",
        **default,
    )


def _add_profile_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--name", type=nonempty(200), required=creating, help="display name")
    parser.add_argument(
        "--timezone",
        type=timezone if creating else timezone_or_none,
        help="IANA zone of the account's call windows (batches may name their own; default UTC)"
        + ("" if creating else "; 'none' clears it"),
    )
    parser.add_argument(
        "--max-concurrency",
        type=concurrency,
        help="calls in progress at once across all the account's batches (default 20)",
    )
    parser.add_argument(
        "--per-minute-rate",
        type=rate,
        metavar="DOLLARS",
        help="price per started minute of a call, in dollars (e.g. 0.01; default 0)",
    )
    parser.add_argument(
        "--calls-per-second",
        type=calls_per_second,
        help="call starts per second across all batches (carrier pacing; default 1)",
    )
    parser.add_argument(
        "--resume-after-top-up",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="resume batches paused for insufficient credits when credits are added (default no)",
    )
    parser.add_argument(
        "--low-balance-alert",
        type=rate,
        metavar="DOLLARS",
        help="a credits.low event when the balance falls under this (default 1; 0 = never)",
    )
    parser.add_argument(
        "--recipient-events",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="put every recipient status change on the event bus (several per call; default no: "
        "only for endpoints subscribed to recipient.status_changed)",
    )


Command = Callable[[OperatorContext, argparse.Namespace, Output], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operator admin for batchcalls: accounts, API keys, agents, caller IDs, limits, credits.",
        epilog="Exit codes: 0 done, 1 not found, 2 bad input, 3 already exists, 4 stack/table/"
        "credentials unusable, 5 still in use. See docs/operator.md.",
    )
    _add_target_options(parser, in_subcommand=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        _add_target_options(sub, in_subcommand=True)
        return sub

    sub = command("create-account", cmd_create_account, "create an account; prints its id")
    sub.add_argument("--id", type=identifier, help="the account id (default: a new UUID)")
    _add_profile_options(sub, creating=True)

    sub = command("update-account", cmd_update_account, "change an account's name, zone or limits")
    sub.add_argument("--account", type=identifier, required=True)
    _add_profile_options(sub, creating=False)

    sub = command("show-account", cmd_show_account, "profile, balance, caller IDs and key counts (JSON)")
    sub.add_argument("--account", type=identifier, required=True)

    sub = command("issue-key", cmd_issue_key, "issue an API key; prints it once")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--label", type=nonempty(200), help="what the key is for")

    sub = command("list-keys", cmd_list_keys, "the account's keys: hash, label, issued, revoked (JSON)")
    sub.add_argument("--account", type=identifier, required=True)

    sub = command("revoke-key", cmd_revoke_key, "revoke an API key, given the key or its hash")
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", type=nonempty(512), help="the key itself")
    which.add_argument("--hash", type=key_hash, help="its SHA-256 (list-keys shows it)")

    sub = command("add-agent", cmd_add_agent, "add a voice agent to an account (JSON)")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--agent", type=agent_identifier, required=True, help="its id (what agent_id names)")
    sub.add_argument("--name", type=nonempty(200), help="display name")
    sub.add_argument("--description", type=nonempty(2000), help="what it does")

    sub = command(
        "list-agents", cmd_list_agents, "the account's agents and the caller IDs naming each (JSON)"
    )
    sub.add_argument("--account", type=identifier, required=True)

    sub = command("remove-agent", cmd_remove_agent, "remove an agent no caller ID names any more")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--agent", type=agent_identifier, required=True)

    sub = command("agent-key", cmd_agent_key, "the key an agent's service verifies its signed URLs with")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--agent", type=agent_identifier, required=True)

    sub = command("add-number", cmd_add_number, "register (or re-point) a caller ID with one of its agents")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--number", type=phone_number, required=True, help="E.164, e.g. +16045551234")
    sub.add_argument("--agent", type=agent_identifier, required=True, help="one of the account's agents")

    for name, handler, help in (
        ("activate-number", cmd_activate_number, "let batches call from this caller ID again"),
        ("deactivate-number", cmd_deactivate_number, "stop batches calling from this caller ID"),
    ):
        sub = command(name, handler, help)
        sub.add_argument("--account", type=identifier, required=True)
        sub.add_argument("--number", type=phone_number, required=True)

    sub = command(
        "add-credits",
        cmd_add_credits,
        "add credits in dollars (negative: an adjustment), with a ledger entry",
    )
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument(
        "--amount",
        type=amount,
        required=True,
        metavar="DOLLARS",
        help="e.g. 25.00; at most 6 decimals; negative takes credits back (write --amount=-5)",
    )
    sub.add_argument("--ref", type=nonempty(100), help="your reference (invoice, payment id)")
    sub.add_argument("--note", type=nonempty(500), help="free text kept in the ledger entry")

    sub = command("ledger", cmd_ledger, "the account's ledger, newest first (JSON)")
    sub.add_argument("--account", type=identifier, required=True)
    sub.add_argument("--limit", type=page_limit, default=50)
    sub.add_argument("--cursor", help="next_cursor of the previous page")
    return parser


def _aws_failure(exc: Exception, target: targets.Target | None) -> Failure | None:
    """A readable message for the AWS errors an operator can fix; None for anything else."""
    from botocore import exceptions as bce

    where = target.describe() if target else "the target"
    if isinstance(exc, bce.NoRegionError):
        return Failure(EXIT_TARGET, "no AWS region: give --region or set AWS_DEFAULT_REGION")
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return Failure(
            EXIT_TARGET, "no AWS credentials: configure the AWS CLI, give --profile or set AWS_PROFILE"
        )
    if isinstance(exc, bce.EndpointConnectionError):
        hint = " (is `make dev` running?)" if target and target.endpoint_url else ""
        return Failure(EXIT_TARGET, f"cannot reach {exc.kwargs.get('endpoint_url', where)}{hint}")
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException":
            return Failure(EXIT_TARGET, f"{where}: not found ({error.get('Message', '')})")
        return Failure(EXIT_TARGET, f"{where}: {error.get('Code')}: {error.get('Message', '')}")
    if isinstance(exc, bce.BotoCoreError):
        return Failure(EXIT_TARGET, f"{where}: {exc}")
    return None


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    io = Output(stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: bad input (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    target: targets.Target | None = None
    try:
        target = targets.resolve(
            environ=os.environ if environ is None else environ,
            table=args.table,
            stack_name=args.stack_name,
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
            state_machine_arn=args.state_machine_arn,
            local=args.local,
        )
        handler: Command = args.handler
        return handler(targets.operator_context(target), args, io)
    except Failure as exc:
        io.note(f"{PROG}: {exc.message}")
        return exc.code
    except TargetError as exc:
        io.note(f"{PROG}: {exc}")
        return EXIT_TARGET
    except Exception as exc:
        failure = _aws_failure(exc, target)
        if failure is None:
            raise
        io.note(f"{PROG}: {failure.message}")
        return failure.code


if __name__ == "__main__":
    sys.exit(main())
