"""The Map's manifest, written through the file store: one JSON array, streamed, none if empty."""

from __future__ import annotations

import json
from typing import IO, Any

from batchcalls.store.files import FileStore, manifest_key


class RecordingS3:
    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, bytes, dict[str, Any]]] = []

    def upload_fileobj(self, fileobj: IO[bytes], bucket: str, key: str, ExtraArgs: dict[str, Any]) -> None:
        self.uploads.append((bucket, key, fileobj.read(), ExtraArgs))


def test_the_entries_are_one_json_array_at_the_passes_key() -> None:
    s3 = RecordingS3()
    key = manifest_key("B1", 2, 3)
    entries = ({"rk": f"R#{i}", "to": f"+1415555000{i}"} for i in range(3))
    assert FileStore(s3, "manifests-bucket").write_manifest(key, entries) == 3
    [(bucket, written_key, body, extra)] = s3.uploads
    assert (bucket, written_key) == ("manifests-bucket", "manifests/B1/r2-p3.json")
    assert extra == {"ContentType": "application/json"}
    assert json.loads(body) == [{"rk": f"R#{i}", "to": f"+1415555000{i}"} for i in range(3)]


def test_no_entries_write_no_manifest() -> None:
    s3 = RecordingS3()
    assert FileStore(s3, "manifests-bucket").write_manifest(manifest_key("B1", 1, 1), iter(())) == 0
    assert s3.uploads == []
