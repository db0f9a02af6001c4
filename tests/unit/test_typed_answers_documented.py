"""The OpenAPI document is made from the models the answers are built from: where a service
now answers a model, the document describes what is really sent."""

from __future__ import annotations

import json
from typing import Any

from batchcalls.api.routes import build_app
from batchcalls.models.results import ImportSummary, RecipientReport


def _document() -> dict[str, Any]:
    return dict(json.loads(build_app().get_openapi_json_schema(title="batchcalls", version="1.0.0")))


def _answer(operation: dict[str, Any]) -> Any:
    return operation["responses"]["200"]["content"]["application/json"]["schema"]


def test_a_preview_documents_every_field_of_its_recipients_report() -> None:
    # suppressed and suppressed_rows were always sent, and were missing from the document.
    preview = _document()["components"]["schemas"]["PreviewOut"]
    assert set(RecipientReport.model_fields) <= set(preview["properties"])
    assert {"suppressed", "suppressed_rows"} <= set(preview["required"])


def test_checking_and_removing_a_suppressed_number_document_their_answers() -> None:
    number = _document()["paths"]["/account/suppression/{phone_number}"]
    assert _answer(number["get"]) == {"$ref": "#/components/schemas/SuppressionCheck"}
    assert _answer(number["delete"]) == {"$ref": "#/components/schemas/SuppressionRemoved"}


def test_the_import_report_is_documented_as_the_import_writes_it() -> None:
    schemas = _document()["components"]["schemas"]
    for response in ("GetBatchResponse", "BatchResponse"):
        report = schemas[response]["properties"]["import_report"]
        assert report["anyOf"][0] == {"$ref": "#/components/schemas/ImportSummary"}
    assert set(schemas["ImportSummary"]["properties"]) == set(ImportSummary.model_fields)
