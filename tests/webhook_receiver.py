"""A webhook receiver on 127.0.0.1 for tests: records every delivery (headers and raw body),
answers each path with a scripted series of status codes (then 200)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook as StandardWebhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def verify(self, secret: str) -> dict[str, Any]:
        """Both signatures, as a receiver checks them: the Standard Webhooks package, and
        Magpipe's documented ``x-magpipe-signature`` (hex HMAC-SHA256 of the raw body)."""
        verified = StandardWebhook(secret).verify(self.body, self.headers)
        expected = "sha256=" + hmac.new(secret.encode(), self.body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("x-magpipe-signature", "")):
            raise AssertionError("x-magpipe-signature does not match")
        return dict(verified)


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._record(Received(self.path, headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, item: Received) -> int:
        with self._lock:
            self._received.append(item)
            script = self._scripts.get(item.path)
            return script.pop(0) if script else 200

    def answer(self, path: str, *statuses: int) -> None:
        """``path`` answers these statuses in turn, then 200."""
        with self._lock:
            self._scripts[path] = list(statuses)

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
