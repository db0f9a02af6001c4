"""The offline stack's table stream: moto_tuning hands each record to a sink (keeping none) and
StreamPoller runs them into a function like Lambda's event source mapping."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import moto_tuning
from local.stack import ROOT, OfflineStack
from local.streams import StreamPoller, check_pattern, matches
from local.template import ACCOUNT, REGION, Template
from tests.helpers import wait_for

TABLE = "stream-test"
# The EventsFunction mapping's filters, as template.yaml has them.
TEMPLATE_FILTERS = [
    json.loads(f["Pattern"])
    for f in dict(Template.load(ROOT).event_sources("DynamoDB"))["EventsFunction"]["FilterCriteria"][
        "Filters"
    ]
]


class FakeRuntime:
    """Records every invocation; answers with ``answers`` in turn (an exception is raised, a
    function is called with the event), then with success."""

    def __init__(self, *answers: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.answers = list(answers)
        self._lock = threading.Lock()

    def invoke(self, logical: str, event: Any) -> Any:
        with self._lock:
            self.events.append(event)
            answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer(event) if callable(answer) else answer

    def sequences(self, index: int) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in self.events[index]["Records"]]


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto_tuning.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        try:
            yield client
        finally:
            moto_tuning.set_stream_sink(None)


@pytest.fixture
def records(ddb: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the sink receives."""
    received: list[tuple[str, dict[str, Any]]] = []
    moto_tuning.set_stream_sink(lambda table, record: received.append((table, record)))
    return received


def put(ddb: Any, sk: str, **attrs: str) -> None:
    item = {"pk": {"S": "A#1"}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}
    ddb.put_item(TableName=TABLE, Item=item)


def update(ddb: Any, sk: str, status: str) -> None:
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "A#1"}, "sk": {"S": sk}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )


def transact_put(sk: str, condition: str | None = None) -> dict[str, Any]:
    put_op: dict[str, Any] = {"TableName": TABLE, "Item": {"pk": {"S": "A#1"}, "sk": {"S": sk}}}
    if condition:
        put_op["ConditionExpression"] = condition
    return {"Put": put_op}


def shard() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].get_table(TABLE).stream_shard


def poller_for(runtime: FakeRuntime, **options: Any) -> StreamPoller:
    poller = StreamPoller(runtime, "EventsFunction", TABLE, **{"filters": [], **options})
    moto_tuning.set_stream_sink(lambda table, record: poller.put(record))
    return poller


# -- the records ---------------------------------------------------------------------------------


def test_records_come_in_order_with_keys_images_and_sequence_numbers(ddb: Any, records: list[Any]) -> None:
    # When an item is put, changed and deleted
    put(ddb, "META", status="draft")
    update(ddb, "META", "running")
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "A#1"}, "sk": {"S": "META"}})
    # Then the stream has the three changes, in order, as Lambda receives them
    assert [table for table, _ in records] == [TABLE] * 3
    inserted, modified, removed = (record for _, record in records)
    assert [r["eventName"] for r in (inserted, modified, removed)] == ["INSERT", "MODIFY", "REMOVE"]
    keys = {"pk": {"S": "A#1"}, "sk": {"S": "META"}}
    assert all(r["dynamodb"]["Keys"] == keys for r in (inserted, modified, removed))
    assert inserted["dynamodb"]["NewImage"]["status"] == {"S": "draft"}
    assert "OldImage" not in inserted["dynamodb"]
    assert modified["dynamodb"]["OldImage"]["status"] == {"S": "draft"}
    assert modified["dynamodb"]["NewImage"]["status"] == {"S": "running"}
    assert removed["dynamodb"]["OldImage"]["status"] == {"S": "running"}
    assert "NewImage" not in removed["dynamodb"]
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in (inserted, modified, removed)]
    assert sequences == sorted(set(sequences))
    stream_arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    assert {r["eventSourceARN"] for r in (inserted, modified, removed)} == {stream_arn}
    assert isinstance(inserted["dynamodb"]["ApproximateCreationDateTime"], int)
    json.dumps(records)  # what a handler gets is plain JSON


def test_an_update_that_creates_an_item_is_one_insert(ddb: Any, records: list[Any]) -> None:
    # When UpdateItem creates the item (moto puts the bare key first)
    update(ddb, "R#1", "queued")
    # Then the stream has one INSERT, of the whole item
    assert [r["eventName"] for _, r in records] == ["INSERT"]
    assert records[0][1]["dynamodb"]["NewImage"]["status"] == {"S": "queued"}


def test_a_write_that_changes_nothing_makes_no_record(ddb: Any, records: list[Any]) -> None:
    put(ddb, "META", status="draft")
    put(ddb, "META", status="draft")
    update(ddb, "META", "draft")
    assert [r["eventName"] for _, r in records] == ["INSERT"]


def test_without_a_sink_records_are_dropped(ddb: Any) -> None:
    moto_tuning.set_stream_sink(None)
    put(ddb, "META", status="draft")
    assert shard().items == []


def test_concurrent_writers_see_sequence_numbers_in_hand_over_order(ddb: Any, records: list[Any]) -> None:
    def write(writer: int) -> None:
        for i in range(50):
            put(ddb, f"R#{writer}-{i}", status="queued")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for _, r in records]
    assert len(sequences) == 200 and sequences == sorted(set(sequences))


def test_the_shard_keeps_no_records(ddb: Any, records: list[Any]) -> None:
    for i in range(5_000):
        put(ddb, f"R#{i}", status="queued")
    assert len(records) == 5_000
    assert shard().items == []


# -- transactions --------------------------------------------------------------------------------


def test_a_failed_transaction_makes_no_records(ddb: Any, records: list[Any]) -> None:
    # Given an item the transaction's condition will find
    put(ddb, "META", status="draft")
    records.clear()
    # When a transaction writes two items, then fails its condition on the third
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                transact_put("R#1"),
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "A#1"}, "sk": {"S": "R#2"}},
                        "UpdateExpression": "SET #s = :s",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": {"S": "queued"}},
                    }
                },
                transact_put("META", condition="attribute_not_exists(pk)"),
            ]
        )
    # Then neither its partial writes nor their rollback reached the stream
    assert records == []
    assert ddb.scan(TableName=TABLE)["Count"] == 1


def test_a_transaction_makes_a_record_per_item_in_order(ddb: Any, records: list[Any]) -> None:
    ddb.transact_write_items(TransactItems=[transact_put(f"R#{i}") for i in range(3)])
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for _, r in records] == ["R#0", "R#1", "R#2"]
    assert [r["eventName"] for _, r in records] == ["INSERT"] * 3


# -- filters -------------------------------------------------------------------------------------


def test_the_templates_filters_keep_batch_recipient_and_credits_changes(ddb: Any) -> None:
    runtime = FakeRuntime()
    poller = poller_for(runtime, filters=TEMPLATE_FILTERS)
    poller.start()
    try:
        put(ddb, "META", status="draft")  # kept: any META change
        put(ddb, "R#1", status="queued")  # dropped: a recipient's INSERT
        update(ddb, "R#1", "dialing")  # kept: a recipient's MODIFY
        put(ddb, "LEDGER#1", amount="5")  # dropped: not a filtered item
        put(ddb, "CREDITS", balance="10")  # dropped: the credits' INSERT
        update(ddb, "CREDITS", "11")  # kept: a credits MODIFY
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "A#1"}, "sk": {"S": "META"}})  # kept
        wait_for(lambda: sum(len(e["Records"]) for e in runtime.events) >= 4 or None, timeout=10)
    finally:
        poller.stop()
    delivered = [
        (r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for e in runtime.events for r in e["Records"]
    ]
    assert delivered == [("INSERT", "META"), ("MODIFY", "R#1"), ("MODIFY", "CREDITS"), ("REMOVE", "META")]


def test_pattern_rules() -> None:
    record = {"eventName": "MODIFY", "dynamodb": {"Keys": {"sk": {"S": "R#7"}}, "n": 5, "tags": ["a", "b"]}}
    assert matches({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "R#"}]}}}}, record)
    assert not matches({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "B#"}]}}}}, record)
    assert matches({"eventName": ["INSERT", "MODIFY"]}, record)
    assert not matches({"eventName": ["MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["META"]}}}}, record)
    assert matches({"dynamodb": {"OldImage": [{"exists": False}]}}, record)
    assert not matches({"dynamodb": {"OldImage": [{"exists": True}]}}, record)
    assert matches({"dynamodb": {"n": [5]}}, record) and not matches({"dynamodb": {"n": ["5"]}}, record)
    assert matches({"dynamodb": {"tags": ["b"]}}, record)  # an array matches by any element
    assert not matches({"eventName": {"nested": ["x"]}}, record)  # a dict rule needs a dict
    with pytest.raises(ValueError, match="unsupported"):
        check_pattern({"eventName": [{"anything-but": "REMOVE"}]})
    with pytest.raises(ValueError, match="list"):
        check_pattern({"eventName": "MODIFY"})


# -- failures ------------------------------------------------------------------------------------


def five_records(ddb: Any, poller: StreamPoller) -> None:
    for i in range(5):
        put(ddb, f"R#{i}", status="queued")
    poller.start()  # after the writes: one batch of the five


def failing(*positions: int) -> Any:
    """An answer reporting the records at ``positions`` of the batch as failed."""

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        return {
            "batchItemFailures": [
                {"itemIdentifier": records[i]["dynamodb"]["SequenceNumber"]} for i in positions
            ]
        }

    return answer


def test_a_failed_record_is_retried_from_there_and_delivered_once_more(ddb: Any) -> None:
    # Given a function that fails the third and fifth records of its first batch, then succeeds
    runtime = FakeRuntime(failing(4, 2))
    poller = poller_for(runtime)
    five_records(ddb, poller)
    try:
        wait_for(lambda: len(runtime.events) >= 2 or None, timeout=5)
        # (time for a wrong third delivery)
        poller._stop.wait(0.5)
    finally:
        poller.stop()
    # Then the retry starts at the lowest failed record; the two before it are not redelivered
    assert len(runtime.events) == 2
    assert runtime.sequences(1) == runtime.sequences(0)[2:]
    assert poller.given_up == 0


def test_an_error_retries_the_whole_batch(ddb: Any) -> None:
    runtime = FakeRuntime(RuntimeError("boom"))
    poller = poller_for(runtime)
    five_records(ddb, poller)
    try:
        wait_for(lambda: len(runtime.events) >= 2 or None, timeout=5)
    finally:
        poller.stop()
    assert len(runtime.sequences(0)) == 5
    assert runtime.sequences(1) == runtime.sequences(0)


def test_an_unknown_item_identifier_fails_the_whole_batch(ddb: Any) -> None:
    runtime = FakeRuntime({"batchItemFailures": [{"itemIdentifier": "no-such-record"}]})
    poller = poller_for(runtime)
    five_records(ddb, poller)
    try:
        wait_for(lambda: len(runtime.events) >= 2 or None, timeout=5)
    finally:
        poller.stop()
    assert runtime.sequences(1) == runtime.sequences(0)


def test_without_report_batch_item_failures_the_answer_is_not_read(ddb: Any) -> None:
    runtime = FakeRuntime(failing(0))
    poller = poller_for(runtime, report_batch_item_failures=False)
    five_records(ddb, poller)
    try:
        wait_for(lambda: runtime.events or None, timeout=5)
        poller._stop.wait(0.5)
    finally:
        poller.stop()
    assert len(runtime.events) == 1


def test_records_that_keep_failing_are_given_up_and_reported_to_the_on_failure_queue(ddb: Any) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    # Given a function that always fails the fourth record, and one retry allowed
    runtime = FakeRuntime(failing(3), failing(0), failing(0))
    poller = poller_for(runtime, max_retries=1, on_failure_queue_url=queue_url, stream_arn="arn:stream")
    five_records(ddb, poller)
    try:
        wait_for(lambda: poller.given_up or None, timeout=5)
        put(ddb, "R#later", status="queued")  # the next record still goes through
        wait_for(lambda: len(runtime.events) >= 3 or None, timeout=5)
    finally:
        poller.stop()
    # Then it was tried twice from the failed record, then dropped, and the queue has its summary
    assert poller.given_up == 2
    assert runtime.sequences(1) == runtime.sequences(0)[3:]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in runtime.events[2]["Records"]] == ["R#later"]
    message = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == runtime.sequences(1)[0]
    assert info["endSequenceNumber"] == runtime.sequences(1)[-1]
    assert info["batchSize"] == 2 and info["streamArn"] == "arn:stream"


def test_batches_hold_at_most_batch_size_records(ddb: Any) -> None:
    runtime = FakeRuntime()
    poller = poller_for(runtime, batch_size=2)
    five_records(ddb, poller)
    try:
        wait_for(lambda: sum(len(e["Records"]) for e in runtime.events) >= 5 or None, timeout=5)
    finally:
        poller.stop()
    assert [len(e["Records"]) for e in runtime.events] == [2, 2, 1]


# -- the stack's wiring --------------------------------------------------------------------------


def test_the_stack_runs_the_tables_stream_into_events_function_with_the_templates_settings(
    ddb: Any,
) -> None:
    stack = OfflineStack()
    stack.runtime = FakeRuntime()  # type: ignore[assignment]
    stack._create_tables(boto3.client("dynamodb", region_name=REGION))
    stack._create_queues(boto3.client("sqs", region_name=REGION))
    stack._start_stream_pollers()
    try:
        # Then !GetAtt Table.StreamArn is the table's stream
        table = stack.template.refs["Table"]
        stream_arn = stack.template.resolve({"Fn::GetAtt": ["Table", "StreamArn"]})
        assert stream_arn == ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        # and EventsFunction's mapping has the template's settings
        (poller,) = stack._stream_pollers[table]
        assert (poller.function, poller.batch_size, poller.batching_window_seconds) == (
            "EventsFunction",
            100,
            1.0,
        )
        assert (poller.max_retries, poller.report_batch_item_failures) == (10, True)
        assert poller.filters == TEMPLATE_FILTERS
        dlq = stack.template.resolve({"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]})
        assert poller.on_failure_queue_url == stack.queue_urls[dlq]
        # and a write to the table reaches it
        ddb.put_item(TableName=table, Item={"pk": {"S": "B#1"}, "sk": {"S": "META"}})
        runtime: FakeRuntime = stack.runtime  # type: ignore[assignment]
        event = wait_for(lambda: runtime.events[0] if runtime.events else None, timeout=5)
        assert event["Records"][0]["eventSourceARN"] == stream_arn
    finally:
        moto_tuning.set_stream_sink(None)
        stack.stop_poller("EventsFunction")


def test_a_function_not_written_yet_is_left_out_of_the_runtime(tmp_path: Path) -> None:
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    stack = OfflineStack(root=tmp_path)  # no handler files at all
    assert stack._template_of_written_functions().functions() == {}
    assert "EventsFunction" in stack._absent_functions
