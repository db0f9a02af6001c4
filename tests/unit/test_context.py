"""A context is built with its fakes: what is given is used, the rest comes from ``client``."""

from __future__ import annotations

from typing import Any

from batchcalls.config import Settings
from batchcalls.services.context import Context
from batchcalls.store.executions import ExecutionStore
from tests.helpers import FakeProvider

SETTINGS = Settings(
    table_name="t", manifest_bucket="manifests", files_bucket="files", state_machine_arn="arn"
)


class Clients:
    """A client factory that hands out a placeholder per service and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, service: str) -> Any:
        self.asked.append(service)
        return f"{service}-client"


def test_the_fakes_given_are_the_ones_used() -> None:
    clients = Clients()
    provider, executions, db = FakeProvider(), ExecutionStore("sfn-fake", "arn"), object()
    ctx = Context(SETTINGS, client=clients, db=db, provider=provider, executions=executions)
    assert ctx.provider is provider and ctx.executions is executions and ctx.db is db
    assert ctx.batches is ctx.batches  # built once
    assert clients.asked == []


def test_what_is_not_given_is_built_from_the_client_factory_on_first_use() -> None:
    clients = Clients()
    ctx = Context(SETTINGS, client=clients)
    assert clients.asked == []
    assert ctx.db == "dynamodb-client"
    assert ctx.manifests.bucket == "manifests"
    assert isinstance(ctx.executions, ExecutionStore)
    assert clients.asked == ["dynamodb", "s3", "stepfunctions"]
