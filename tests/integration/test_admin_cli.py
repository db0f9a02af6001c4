"""``batchcalls-admin`` against the offline stack's table: in-process through moto's mock, and
as a separate process through the stack's AWS endpoint (the same moto state over HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from batchcalls import aws
from batchcalls.admin import target
from batchcalls.admin.cli import main
from batchcalls.domain.agent_url import agent_key
from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.models.domain import Batch, CallerNumber
from batchcalls.services import account as account_service
from batchcalls.services.auth import hash_api_key
from batchcalls.services.context import Context
from local.stack import LOCAL_SECRETS, OfflineStack, StackOptions
from local.template import REGION

ROOT = Path(__file__).resolve().parents[2]


class Admin:
    """Runs the command in-process; ``--table`` names the stack's table, the environment is
    empty unless given (the stack exports TABLE_NAME and STATE_MACHINE_ARN)."""

    def __init__(self, table: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.table = table
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *argv: str, environ: dict[str, str] | None = None) -> int:
        self.capsys.readouterr()
        code = main(["--table", self.table, *argv], environ=environ or {})
        self.out, self.err = self.capsys.readouterr()
        return code

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def admin(quiet_stack: OfflineStack, capsys: pytest.CaptureFixture[str]) -> Admin:
    return Admin(quiet_stack.template.refs["Table"], capsys)


def test_the_local_defaults_name_the_offline_stacks_resources(quiet_stack: OfflineStack) -> None:
    assert quiet_stack.template.refs["Table"] == target.LOCAL_TABLE
    assert quiet_stack.template.refs["BatchRunStateMachine"] == target.LOCAL_STATE_MACHINE_ARN
    assert target.LOCAL_REGION == REGION
    assert quiet_stack.aws_endpoint  # StackOptions.aws_port=0: on a free port
    make_dev = StackOptions.from_env({})  # what `make dev` listens on
    assert f"http://{make_dev.host}:{make_dev.aws_port}" == target.LOCAL_ENDPOINT


def test_account_keys_numbers_limits_and_credits(admin: Admin, ctx: Context) -> None:
    assert (
        admin(
            "create-account",
            "--name",
            "Acme",
            "--timezone",
            "europe/paris",
            "--max-concurrency",
            "7",
            "--per-minute-rate",
            "0.015",
            "--resume-after-top-up",
        )
        == 0
    )
    account_id = admin.out.strip()
    account = ctx.accounts.get_account(account_id)
    assert account is not None
    assert (account.name, account.timezone, account.max_concurrency) == ("Acme", "Europe/Paris", 7)
    assert (account.per_minute_rate_micros, account.calls_per_second, account.resume_after_top_up) == (
        15_000,
        1.0,
        True,
    )
    assert admin("create-account", "--id", account_id, "--name", "Again") == 3
    assert "already exists" in admin.err

    # A key: printed once, only its hash stored.
    assert admin("issue-key", "--account", account_id, "--label", "ci") == 0
    key = admin.out.strip()
    assert key.startswith("bck_") and len(key) > 40 and "\n" not in key
    assert key not in admin.err and "only this once" in admin.err
    digest = hash_api_key(key)
    assert ctx.accounts.account_id_for_key(digest) == account_id
    everything = ctx.db.scan(TableName=ctx.settings.table_name)["Items"]
    assert key not in json.dumps(everything)
    assert digest in json.dumps(everything)
    assert admin("list-keys", "--account", account_id) == 0
    [listed] = admin.json()["keys"]
    assert (listed["key_hash"], listed["label"], listed["revoked"]) == (digest, "ci", False)

    assert admin("revoke-key", "--key", key) == 0
    assert admin.json()["revoked"] is True
    assert ctx.accounts.account_id_for_key(digest) is None
    revoked_at = admin.json()["revoked_at"]
    assert admin("revoke-key", "--hash", digest) == 0  # again: no change
    assert admin.json()["revoked_at"] == revoked_at
    assert admin("revoke-key", "--key", "bck_never-issued") == 1

    # A caller ID with its agent (one of the account's).
    for agent in ("agent-7", "agent-8"):
        assert admin("add-agent", "--account", account_id, "--agent", agent) == 0
    assert (
        admin("add-number", "--account", account_id, "--number", "+1 604 555 7777", "--agent", "agent-7") == 0
    )
    number = ctx.accounts.get_caller_number(account_id, "+16045557777")
    assert number is not None and (number.active, number.agent_id) == (True, "agent-7")
    assert admin("deactivate-number", "--account", account_id, "--number", "+16045557777") == 0
    assert not ctx.caller_id_active(account_id, "+16045557777")
    assert admin("activate-number", "--account", account_id, "--number", "+16045557777") == 0
    assert admin.json()["active"] is True
    assert admin("deactivate-number", "--account", account_id, "--number", "+16045550000") == 1
    # Re-pointing a deactivated number keeps it off, and says it replaced one.
    assert admin("deactivate-number", "--account", account_id, "--number", "+16045557777") == 0
    assert admin("add-number", "--account", account_id, "--number", "+16045557777", "--agent", "agent-8") == 0
    assert (admin.json()["replaced"], admin.json()["active"], admin.json()["agent_id"]) == (
        True,
        False,
        "agent-8",
    )
    assert admin("activate-number", "--account", account_id, "--number", "+16045557777") == 0
    assert admin("add-number", "--account", account_id, "--number", "+16045557777", "--agent", "agent-7") == 0

    # Limits.
    assert (
        admin(
            "update-account",
            "--account",
            account_id,
            "--max-concurrency",
            "30",
            "--calls-per-second",
            "2.5",
            "--no-resume-after-top-up",
            "--timezone",
            "none",
        )
        == 0
    )
    account = ctx.accounts.get_account(account_id)
    assert account is not None
    assert (account.max_concurrency, account.calls_per_second, account.timezone) == (30, 2.5, None)
    assert (account.resume_after_top_up, account.name) == (False, "Acme")

    # Credits: exact dollars → micro-dollars, with ledger entries.
    assert admin("add-credits", "--account", account_id, "--amount", "25.50", "--ref", "inv-1") == 0
    assert admin.json()["balance_micros"] == 25_500_000
    assert ctx.credits.balance(account_id) == 25_500_000
    [entry] = ctx.credits.ledger_all(account_id)
    assert (entry.kind, entry.ref, entry.amount_micros) == ("top_up", "top_up:inv-1", 25_500_000)
    assert admin("add-credits", "--account", account_id, "--amount=-0.000001", "--note", "rounding") == 0
    assert ctx.credits.balance(account_id) == 25_499_999
    assert admin("ledger", "--account", account_id, "--limit", "1") == 0
    page = admin.json()
    assert [e["kind"] for e in page["entries"]] == ["adjustment"] and page["next_cursor"]
    assert admin("ledger", "--account", account_id, "--cursor", page["next_cursor"]) == 0
    assert [e["amount_micros"] for e in admin.json()["entries"]] == [25_500_000]

    assert admin("show-account", "--account", account_id) == 0
    shown = admin.json()
    assert shown["balance_micros"] == 25_499_999 and shown["max_concurrency"] == 30
    assert shown["caller_ids"] == [{"phone_number": "+16045557777", "active": True, "agent_id": "agent-7"}]
    assert shown["api_keys"] == {"active": 0, "revoked": 1}
    assert (shown["timezone"], shown["timezone_source"]) == ("UTC", "default")


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["add-number", "--account", "a", "--number", "+1555", "--agent", "x"], "--number"),
        (["add-number", "--account", "a", "--number", "not a number", "--agent", "x"], "--number"),
        (["create-account", "--name", "A", "--timezone", "Mars/Olympus"], "--timezone"),
        (["add-credits", "--account", "a", "--amount", "1.0000001"], "--amount"),
        (["add-credits", "--account", "a", "--amount", "abc"], "--amount"),
        (["add-credits", "--account", "a", "--amount", "1e3"], "--amount"),
        (["add-credits", "--account", "a", "--amount", "0.00"], "--amount"),
        (["create-account", "--name", "A", "--max-concurrency", "0"], "--max-concurrency"),
        (["create-account", "--name", "A", "--calls-per-second", "-1"], "--calls-per-second"),
        (["create-account", "--name", "A", "--per-minute-rate", "-0.01"], "--per-minute-rate"),
        (["create-account", "--name", "A", "--id", "acct#1"], "--id"),
        (["create-account", "--name", "  "], "--name"),
        (["revoke-key", "--hash", "abc"], "--hash"),
        (["add-agent", "--account", "a", "--agent", "bad agent!"], "--agent"),
        (["add-agent", "--account", "a", "--agent", "agent-1\n"], "--agent"),  # would break every signature
        (["add-number", "--account", "a", "--number", "+16045551234", "--agent", "-x"], "--agent"),
        (["update-account", "--account", "a"], "nothing to change"),
    ],
)
def test_bad_input_exits_2_naming_the_option(admin: Admin, argv: list[str], option: str) -> None:
    assert admin(*argv) == 2
    # The error line itself names the option (the usage line above it lists them all).
    assert option in admin.err.strip().splitlines()[-1]


def test_what_is_not_there_exits_1(admin: Admin) -> None:
    for argv in (
        ["show-account", "--account", "nobody"],
        ["issue-key", "--account", "nobody"],
        ["add-credits", "--account", "nobody", "--amount", "5"],
        ["add-number", "--account", "nobody", "--number", "+16045551234", "--agent", "a"],
        ["add-agent", "--account", "nobody", "--agent", "a"],
        ["list-agents", "--account", "nobody"],
        ["remove-agent", "--account", "nobody", "--agent", "a"],
        ["update-account", "--account", "nobody", "--name", "X"],
        ["ledger", "--account", "nobody"],
    ):
        assert admin(*argv) == 1, argv
        assert "account nobody not found" in admin.err


def test_agents_added_listed_and_removed(admin: Admin, ctx: Context) -> None:
    assert admin("create-account", "--name", "Agents") == 0
    account_id = admin.out.strip()
    assert admin("create-account", "--name", "Someone else") == 0
    other_id = admin.out.strip()
    assert admin("add-agent", "--account", other_id, "--agent", "theirs") == 0

    # A caller ID names one of the account's own agents, not another account's.
    assert admin("add-number", "--account", account_id, "--number", "+16045556000", "--agent", "theirs") == 1
    assert f"agent theirs not found in account {account_id}" in admin.err and "add-agent" in admin.err
    assert ctx.accounts.get_caller_number(account_id, "+16045556000") is None

    assert (
        admin(
            "add-agent",
            "--account",
            account_id,
            "--agent",
            "front-desk",
            "--name",
            "Front desk",
            "--description",
            "books appointments",
        )
        == 0
    )
    added = admin.json()
    assert (added["id"], added["name"], added["description"]) == (
        "front-desk",
        "Front desk",
        "books appointments",
    )
    assert added["created_at"]
    assert admin("add-agent", "--account", account_id, "--agent", "front-desk") == 3
    assert "already has an agent front-desk" in admin.err
    assert admin("add-agent", "--account", account_id, "--agent", "spare") == 0
    assert (
        admin("add-number", "--account", account_id, "--number", "+16045556000", "--agent", "front-desk") == 0
    )
    # A caller ID from before agents were recorded names an agent nobody added.
    ctx.accounts.put_caller_number(
        account_id, CallerNumber(phone_number="+16045556001", agent_id="old-agent")
    )

    assert admin("list-agents", "--account", account_id) == 0
    listed = admin.json()
    assert [(a["id"], a["caller_ids"]) for a in listed["agents"]] == [
        ("front-desk", ["+16045556000"]),
        ("spare", []),
    ]
    assert listed["unregistered"] == [{"agent_id": "old-agent", "caller_ids": ["+16045556001"]}]

    # Refused while a caller ID names it, with what to do about it.
    assert admin("remove-agent", "--account", account_id, "--agent", "front-desk") == 5
    assert "+16045556000" in admin.err and "add-number --agent" in admin.err
    assert (
        admin("remove-agent", "--account", account_id, "--agent", "old-agent") == 5
    )  # named, though not added
    assert admin("add-number", "--account", account_id, "--number", "+16045556000", "--agent", "spare") == 0
    assert admin("remove-agent", "--account", account_id, "--agent", "front-desk") == 0
    assert admin.json()["removed"] is True
    assert admin("remove-agent", "--account", account_id, "--agent", "front-desk") == 1
    assert "agent front-desk" in admin.err and "not found" in admin.err
    assert admin("list-agents", "--account", account_id) == 0
    assert [a["id"] for a in admin.json()["agents"]] == ["spare"]
    assert admin("show-account", "--account", account_id) == 0
    assert [a["id"] for a in admin.json()["agents"]] == ["spare"]


def test_without_a_table_it_says_how_to_name_one(
    quiet_stack: OfflineStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show-account", "--account", "x"], environ={}) == 4
    assert "--stack-name" in capsys.readouterr().err
    # Target options are accepted after the command too; TABLE_NAME is the fallback.
    env = {"TABLE_NAME": "no-such-table"}
    assert (
        main(["show-account", "--account", "x", "--table", quiet_stack.template.refs["Table"]], environ=env)
        == 1
    )
    assert main(["show-account", "--account", "x"], environ=env) == 4
    assert "no-such-table" in capsys.readouterr().err


def test_a_top_up_that_must_resume_batches_needs_the_state_machine(
    quiet_stack: OfflineStack, admin: Admin, ctx: Context
) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    assert admin("create-account", "--id", account_id, "--name", "Broke", "--resume-after-top-up") == 0
    assert admin("add-agent", "--account", account_id, "--agent", "a") == 0
    assert admin("add-number", "--account", account_id, "--number", "+16045558888", "--agent", "a") == 0
    now = ctx.now_iso()
    batch = Batch(
        id=str(uuid.uuid4()),
        account_id=account_id,
        name="waiting for credits",
        caller_id="+16045558888",
        status=BatchStatus.PAUSED,
        paused_reason=PausedReason.INSUFFICIENT_CREDITS,
        created_at=now,
        updated_at=now,
        run_number=1,
    )
    ctx.batches.create(batch, [])

    assert admin("add-credits", "--account", account_id, "--amount", "10") == 2
    assert "--stack-name" in admin.err and ctx.credits.balance(account_id) == 0

    arn = quiet_stack.template.refs["BatchRunStateMachine"]
    assert admin("add-credits", "--account", account_id, "--amount", "10", "--state-machine-arn", arn) == 0
    assert admin.json()["resumed_batches"] == [batch.id]
    assert ctx.credits.balance(account_id) == 10_000_000


def test_the_table_is_found_from_the_cloudformation_stack(
    quiet_stack: OfflineStack, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto's CloudFormation needs extras the project does not install: answer as AWS would.
    table = quiet_stack.template.refs["Table"]
    cfn = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cfn)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "batchcalls",
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                    "StackStatus": "UPDATE_COMPLETE",
                    # A stack deployed before the TableName output: found from its resources.
                    "Outputs": [{"OutputKey": "StateMachineArn", "OutputValue": "arn:sm"}],
                }
            ]
        },
        {"StackName": "batchcalls"},
    )
    stubber.add_response(
        "describe_stack_resource",
        {
            "StackResourceDetail": {
                "LogicalResourceId": "Table",
                "PhysicalResourceId": table,
                "ResourceType": "AWS::DynamoDB::Table",
                "LastUpdatedTimestamp": datetime(2026, 1, 1, tzinfo=UTC),
                "ResourceStatus": "CREATE_COMPLETE",
            }
        },
        {"StackName": "batchcalls", "LogicalResourceId": "Table"},
    )
    stubber.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id nope does not exist", 400, {"StackName": "nope"}
    )
    stubber.activate()
    real = aws.session_client
    monkeypatch.setattr(
        aws,
        "session_client",
        lambda session, service, url=None: (
            cfn if service == "cloudformation" else real(session, service, url)
        ),
    )

    found = target.resolve(environ={}, stack_name="batchcalls")
    assert (found.table, found.state_machine_arn) == (table, "arn:sm")
    assert main(["--stack-name", "nope", "show-account", "--account", "x"], environ={}) == 4
    assert "stack nope not found" in admin.capsys.readouterr().err
    stubber.assert_no_pending_responses()


def _admin_process(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [sys.executable, "-m", "batchcalls.admin", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_another_process_shares_the_stacks_state_through_its_aws_endpoint(
    quiet_stack: OfflineStack, ctx: Context
) -> None:
    endpoint = quiet_stack.aws_endpoint
    assert endpoint is not None
    done = _admin_process("--local", "--endpoint-url", endpoint, "create-account", "--name", "Remote")
    assert done.returncode == 0, done.stderr
    account_id = done.stdout.strip()
    # Written by the other process, read in this one through the mock: the same backends.
    account = ctx.accounts.get_account(account_id)
    assert account is not None and account.name == "Remote"

    account_service.add_credits(ctx, account_id, 1_234_000, ref="remote")  # written here, read there
    done = _admin_process(
        "--region",
        REGION,
        "--endpoint-url",
        endpoint,
        "--table",
        quiet_stack.template.refs["Table"],
        "show-account",
        "--account",
        account_id,
    )
    assert done.returncode == 4 and "credentials" in done.stderr  # no credentials at all: said so
    done = _admin_process("--local", "--endpoint-url", endpoint, "show-account", "--account", account_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["balance_micros"] == 1_234_000


def test_agent_key_is_the_agents_own_key_derived_from_the_stacks_secret(
    admin: Admin, quiet_stack: OfflineStack
) -> None:
    # Given an account with an agent, and the stack's agent-URL secret
    assert admin("create-account", "--name", "Keys") == 0
    account_id = admin.out.strip()
    assert admin("add-agent", "--account", account_id, "--agent", "front-desk") == 0
    environ = {"AGENT_URL_SECRET_ARN": quiet_stack.template.refs["AgentUrlSecret"]}
    # When the operator asks for the agent's key
    assert admin("agent-key", "--account", account_id, "--agent", "front-desk", environ=environ) == 0
    # Then it is the key that verifies that agent's URLs (and only that agent is served)
    expected = agent_key(LOCAL_SECRETS["AgentUrlSecret"], account_id, "front-desk")
    assert admin.json() == {"account_id": account_id, "agent_id": "front-desk", "key": expected}
    assert admin("agent-key", "--account", account_id, "--agent", "nobody", environ=environ) == 1
    assert admin("agent-key", "--account", account_id, "--agent", "front-desk") == 4  # no secret named


def test_the_events_settings_of_an_account_are_the_operators(admin: Admin, ctx: Context) -> None:
    assert admin("create-account", "--name", "Events") == 0
    account_id = admin.out.strip()
    assert (
        admin("update-account", "--account", account_id, "--low-balance-alert", "2.5", "--recipient-events")
        == 0
    )
    assert admin.json()["low_balance_threshold_micros"] == 2_500_000
    account = ctx.accounts.get_account(account_id)
    assert account is not None
    assert (account.low_balance_threshold_micros, account.recipient_events) == (2_500_000, True)
