"""The CSV limits against the real stores (moto): a create or preview over the row cap is
refused naming it and writes nothing, the suppression CSV stops at its cap and reads only the
numbers, and the importer gives a row the limits of a JSON recipient (issue 11, item 3)."""

from __future__ import annotations

import pytest

from batchcalls.domain.errors import InvalidRequest
from batchcalls.domain.recipient_limits import MAX_VARIABLE_CHARS
from batchcalls.models.api import CreateBatchRequest, SuppressionAddRequest
from batchcalls.services import batches, suppression, uploads
from batchcalls.services.context import Context
from batchcalls.store.files import upload_key
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import CALLER, draft_upload, new_account

pytestmark = pytest.mark.usefixtures("importer_stopped")  # these tests run the import themselves


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"max_recipients_per_request": 5}  # a cap of 5 rows, given as deployed settings give it


def numbers_csv(count: int, start: int = 0) -> str:
    return "phone,name\n" + "".join(f"+1415555{6200 + start + n},R{n}\n" for n in range(count))


def create_request(csv_text: str, **extra: object) -> CreateBatchRequest:
    return CreateBatchRequest.model_validate(
        {"action": "create", "name": "capped", "caller_id": CALLER, "recipients_csv": csv_text, **extra}
    )


@pytest.mark.parametrize("extra", [{}, {"dry_run": True}, {"status": "draft"}, {"skip_invalid": True}])
def test_a_create_or_preview_over_the_cap_is_refused_and_writes_nothing(
    ctx: Context, extra: dict[str, object]
) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    request = create_request(numbers_csv(6), **extra)
    with pytest.raises(InvalidRequest) as err:
        if request.dry_run:
            batches.preview_batch(ctx, account_id, request)
        else:
            batches.create_batch(ctx, account_id, request)
    assert err.value.message == (
        "recipients_csv has more than 5 rows; upload bigger lists with POST /batch-calls/uploads"
    )
    assert ctx.batches.page_for_owner(account_id, status=None, limit=10)[0] == []


def test_at_the_cap_the_batch_is_created(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    batch = batches.create_batch(ctx, account_id, create_request(numbers_csv(5) + "\n\n", status="draft"))
    assert batch.total_recipients == 5


def test_a_create_row_over_the_variable_limit_is_named_and_nothing_is_written(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    text = f"phone,Notes\n+14155556301,ok\n+14155556302,{'v' * (MAX_VARIABLE_CHARS + 1)}\n"
    with pytest.raises(InvalidRequest) as err:
        batches.create_batch(ctx, account_id, create_request(text, status="draft"))
    assert err.value.message.startswith("recipients_csv row 3 column 'Notes' has 1001 characters")
    assert ctx.batches.page_for_owner(account_id, status=None, limit=10)[0] == []


def test_a_suppression_csv_over_its_cap_is_refused_while_read_and_adds_nothing(ctx: Context) -> None:
    account_id = new_account(ctx, balance=0)
    rows = "phone\n" + "".join(f"+1212555{n:04d}\n" for n in range(suppression.MAX_ROWS + 1))
    with pytest.raises(InvalidRequest, match=f"csv has more than {suppression.MAX_ROWS} rows"):
        suppression.add_numbers(ctx, account_id, SuppressionAddRequest(csv=rows))
    assert not ctx.suppression.any(account_id)


def test_a_suppression_csv_reads_only_its_numbers(ctx: Context) -> None:
    # A long note or a bad time zone beside a number must not keep it off the list.
    account_id = new_account(ctx, balance=0)
    text = f"phone,timezone,notes\n+14155556401,Mars/Base,{'v' * 5000}\n"
    added = suppression.add_numbers(ctx, account_id, SuppressionAddRequest(csv=text))
    assert added.model_dump() == {"added": 1, "invalid": [], "invalid_count": 0}
    assert ctx.suppression.suppressed(account_id, ["+14155556401"]) == {"+14155556401"}


def test_the_importer_gives_a_row_the_limits_of_a_json_recipient(ctx: Context) -> None:
    text = f"phone,Notes\n+14155556501,ok\n+14155556502,{'v' * (MAX_VARIABLE_CHARS + 1)}\n"
    refused = draft_upload(ctx, text)
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, refused)) == "failed"
    report = ctx.batches.import_report(refused)
    assert report is not None and report["invalid"] == [
        {"row": 3, "column": "Notes", "reason": "has 1001 characters; a variable takes at most 1000"}
    ]
    assert list(ctx.recipients.in_batch(refused)) == []

    skipped = draft_upload(ctx, text, skip_invalid=True)
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, skipped)) == "completed"
    assert [(r.phone_number, r.variables) for r in ctx.recipients.in_batch(skipped)] == [
        ("+14155556501", {"notes": "ok"})
    ]
