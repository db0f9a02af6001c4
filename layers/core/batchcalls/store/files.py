"""Files in S3: recipient uploads waiting to be imported (``uploads/``) and exports
(``exports/``), with presigned URLs so the files never pass through API Gateway; and, in the
manifest bucket, the JSON manifest a pass's Map reads (``manifests/``)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

UPLOAD_PREFIX = "uploads/"
EXPORT_PREFIX = "exports/"
MANIFEST_PREFIX = "manifests/"
CHUNK_BYTES = 1 << 20
# A manifest is spooled in memory up to this size, then in /tmp.
MANIFEST_MEMORY_BYTES = 8 << 20


def upload_key(account_id: str, batch_id: str) -> str:
    return f"{UPLOAD_PREFIX}{account_id}/{batch_id}.csv"


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(account_id, batch_id) of an upload key, or None for any other key."""
    if not key.startswith(UPLOAD_PREFIX) or not key.endswith(".csv"):
        return None
    parts = key[len(UPLOAD_PREFIX) : -len(".csv")].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def export_key(account_id: str, batch_id: str, stamp: str) -> str:
    return f"{EXPORT_PREFIX}{account_id}/{batch_id}/{stamp}.csv"


def manifest_key(batch_id: str, run: int, pass_number: int) -> str:
    return f"{MANIFEST_PREFIX}{batch_id}/r{run}-p{pass_number}.json"


class FileStore:
    def __init__(self, client: Any, bucket: str, presigner: Any | None = None) -> None:
        self._s3 = client
        # Presigned URLs are signed for the endpoint the user reaches (offline: the local AWS
        # endpoint), which may differ from the one the functions use.
        self._presigner = presigner or client
        self.bucket = bucket

    def presign_put(self, key: str, content_type: str, expires_seconds: int) -> str:
        return str(
            self._presigner.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=expires_seconds,
            )
        )

    def presign_get(self, key: str, filename: str, expires_seconds: int) -> str:
        return str(
            self._presigner.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentType": "text/csv; charset=utf-8",
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=expires_seconds,
            )
        )

    def size(self, key: str) -> int:
        return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, streamed (constant memory, whatever its size)."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def upload(self, key: str, fileobj: IO[bytes], content_type: str) -> None:
        # upload_fileobj sends big files as a multipart upload, part by part.
        self._s3.upload_fileobj(fileobj, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def write_manifest(self, key: str, entries: Iterable[dict[str, str]]) -> int:
        """Write ``entries`` at ``key`` as one JSON array; nothing when there are none. Returns
        how many were written. The array goes item by item through a spooled file: a pass of a
        million recipients never sits in memory whole."""
        count = 0
        with tempfile.SpooledTemporaryFile(max_size=MANIFEST_MEMORY_BYTES, mode="w+b") as manifest:
            manifest.write(b"[")
            for entry in entries:
                if count:
                    manifest.write(b",")
                manifest.write(json.dumps(entry).encode())
                count += 1
            manifest.write(b"]")
            if count:
                manifest.seek(0)
                self.upload(key, manifest, "application/json")
        return count
