"""Messages between the parts of the engine: state machine input, Plan/Settle, dial queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RunPass(BaseModel):
    """Identifies one pass of one run of a batch (the state machine's input)."""

    model_config = ConfigDict(populate_by_name=True)

    batch_id: str
    run: int
    pass_number: int = Field(alias="pass")

    @property
    def execution_name(self) -> str:
        # Deterministic, so a retried start of the same pass is a no-op.
        return f"{self.batch_id}-r{self.run}-p{self.pass_number}"

    @property
    def ticket(self) -> str:
        return f"{self.run}:{self.pass_number}"

    def as_input(self) -> dict[str, object]:
        return {"batch_id": self.batch_id, "run": self.run, "pass": self.pass_number}


class PlanResult(BaseModel):
    bucket: str
    key: str
    count: int
    max_concurrency: int
    timeout_seconds: int


class DialMessage(RunPass):
    """One SQS message of the dial queue: dial this recipient in this pass, answer this token."""

    # "rk" on the wire (manifest, state machine, queue): messages in flight keep their shape.
    recipient_key: str = Field(alias="rk")  # the recipient's sort key
    to: str | None = None  # the recipient's number, from the manifest
    task_token: str
    slot_waits: int = 0  # times this dial found every concurrency slot of the account busy
    # Its place in the pass's Map and the Map's concurrency: an item at or past the concurrency
    # started because an earlier one ended (the call-end → next-dial turnaround). None in
    # messages sent before these were added.
    index: int | None = None
    max_concurrency: int | None = None


class LostCall(RunPass):
    recipient_key: str = Field(alias="rk")
    error: dict[str, object] | None = None


class DialOutcome(BaseModel):
    """What a Map child receives through SendTaskSuccess."""

    model_config = ConfigDict(populate_by_name=True)

    outcome: str  # dialed-and-final status, "deferred", "skipped", "duplicate", "stale"
    recipient_key: str | None = Field(default=None, alias="rk")
