"""Which stack the operator's commands act on: its table (and state machine), reached with which
credentials, region and endpoint. The one module of ``batchcalls.admin`` that builds boto3
sessions; everything else goes through the stores of a :class:`OperatorContext`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from batchcalls import aws
from batchcalls.config import Settings
from batchcalls.services.context import Context

# The offline stack (`make dev`): its AWS endpoint, region and resource names. ``local/`` is not
# part of the layer, so they are repeated here; tests/integration/test_admin_cli.py checks them.
LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_REGION = "us-east-1"
LOCAL_TABLE = "batchcalls-local-Table"
LOCAL_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:batchcalls-local-batch-run"
# moto accepts any credentials; these keep real ones from being used to sign local requests.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# template.yaml: the table's logical id and the stack outputs that name what we need.
TABLE_LOGICAL_ID = "Table"
TABLE_OUTPUT = "TableName"
STATE_MACHINE_OUTPUT = "StateMachineArn"
AGENT_SECRET_OUTPUT = "AgentUrlSecretArn"
LOCAL_AGENT_SECRET = "batchcalls-local-AgentUrlSecret"  # the name make dev gives it


class TargetError(Exception):
    """The stack, table or credentials could not be found or used."""


@dataclass
class Target:
    session: boto3.session.Session
    endpoint_url: str | None
    table: str
    state_machine_arn: str
    agent_secret_id: str = ""  # the stack's agent-URL secret (agent-key derives from it)

    def describe(self) -> str:
        where = self.endpoint_url or f"AWS {self.session.region_name or '(no region)'}"
        return f"table {self.table} at {where}"


class OperatorContext(Context):
    """The services' context with clients from the operator's session and endpoint instead of
    the Lambda container's environment."""

    def __init__(self, settings: Settings, session: boto3.session.Session, endpoint_url: str | None) -> None:
        super().__init__(settings, client=partial(aws.session_client, session, endpoint_url=endpoint_url))


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _session(**kwargs: Any) -> boto3.session.Session:
    """A boto3 session whose service models and endpoint data are read once per process (each
    fresh session would parse them again: ~0.3 s for every command run through ``main``)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.session.Session(botocore_session=core, **kwargs)


def resolve(
    *,
    environ: Mapping[str, str],
    table: str | None = None,
    stack_name: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    state_machine_arn: str | None = None,
    local: bool = False,
) -> Target:
    """Precedence: explicit options, then the CloudFormation stack's outputs, then ``--local``'s
    defaults, then the environment (``TABLE_NAME``, ``STATE_MACHINE_ARN``,
    ``AGENT_URL_SECRET_ARN``; boto3 itself reads
    ``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``…)."""
    if local:
        endpoint_url = endpoint_url or LOCAL_ENDPOINT
        session = _session(region_name=region or LOCAL_REGION, **LOCAL_CREDENTIALS)
    else:
        try:
            session = _session(profile_name=profile, region_name=region)
        except Exception as exc:  # botocore's ProfileNotFound
            raise TargetError(str(exc)) from exc
    outputs: dict[str, str] = {}
    if stack_name:
        outputs = stack_outputs(session, endpoint_url, stack_name)
    table = (
        table
        or outputs.get(TABLE_OUTPUT)
        or (LOCAL_TABLE if local else None)
        or environ.get("TABLE_NAME")
        or ""
    )
    if not table:
        raise TargetError(
            "which table? give --stack-name (the SAM stack), --table, or --local (make dev), or set TABLE_NAME"
        )
    arn = (
        state_machine_arn
        or outputs.get(STATE_MACHINE_OUTPUT)
        or (LOCAL_STATE_MACHINE_ARN if local else None)
        or environ.get("STATE_MACHINE_ARN")
        or ""
    )
    secret = (
        outputs.get(AGENT_SECRET_OUTPUT)
        or (LOCAL_AGENT_SECRET if local else None)
        or environ.get("AGENT_URL_SECRET_ARN")
        or ""
    )
    return Target(
        session=session, endpoint_url=endpoint_url, table=table, state_machine_arn=arn, agent_secret_id=secret
    )


def stack_outputs(
    session: boto3.session.Session, endpoint_url: str | None, stack_name: str
) -> dict[str, str]:
    """The stack's outputs; the table from its resources when the output is missing (a stack
    deployed before the output existed)."""
    cfn = aws.session_client(session, "cloudformation", endpoint_url)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code == "ValidationError":
            raise TargetError(
                f"stack {stack_name} not found in region {session.region_name} (try --region)"
            ) from exc
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if TABLE_OUTPUT not in outputs:
        resource = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=TABLE_LOGICAL_ID)
        outputs[TABLE_OUTPUT] = resource["StackResourceDetail"]["PhysicalResourceId"]
    return outputs


def operator_context(target: Target) -> OperatorContext:
    settings = Settings(
        table_name=target.table,
        state_machine_arn=target.state_machine_arn,
        agent_url_secret_arn=target.agent_secret_id,
    )
    return OperatorContext(settings=settings, session=target.session, endpoint_url=target.endpoint_url)
