"""Runs the template's Lambda handlers in this process, and serves them on a local Lambda
Invoke endpoint so the state machine's ``lambda:invoke`` tasks (executed by moto) reach them."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local.logs import CURRENT_FUNCTION
from local.template import ACCOUNT, REGION, Template

logger = logging.getLogger("local.lambda")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object our code (and Powertools) reads."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class LambdaRuntime:
    def __init__(self, template: Template) -> None:
        self._handlers: dict[str, Handler] = {}
        for logical in template.functions():
            path, func = template.handler_path(logical)
            spec = importlib.util.spec_from_file_location(f"lambda_{logical}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._handlers[logical] = getattr(module, func)
        self.invocations: dict[str, int] = {name: 0 for name in self._handlers}
        self.busy_seconds: dict[str, float] = {name: 0.0 for name in self._handlers}
        self._lock = threading.Lock()

    def arn(self, logical: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}"

    def invoke(self, logical: str, event: Any) -> Any:
        with self._lock:
            self.invocations[logical] += 1
        context = LambdaContext(function_name=logical, aws_request_id=str(uuid.uuid4()))
        started = time.perf_counter()
        running = CURRENT_FUNCTION.set(logical)
        try:
            return self._handlers[logical](event, context)
        finally:
            CURRENT_FUNCTION.reset(running)
            with self._lock:
                self.busy_seconds[logical] += time.perf_counter() - started

    def name_from(self, function: str) -> str:
        name = unquote(function).split(":function:")[-1].split(":")[0]
        if name not in self._handlers:
            raise KeyError(name)
        return name


class LambdaEndpoint:
    """``POST /2015-03-31/functions/{name}/invocations`` → the handler, like Lambda's API."""

    def __init__(self, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no delayed-ACK wait between headers and body

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                try:
                    name = endpoint.runtime.name_from(parts[parts.index("functions") + 1])
                except (ValueError, IndexError, KeyError):
                    self._send(404, {"Message": f"Function not found: {self.path}"}, {})
                    return
                event = json.loads(raw) if raw else {}
                try:
                    result = endpoint.runtime.invoke(name, event)
                    self._send(200, result, {})
                except Exception as exc:
                    logger.exception("%s failed", name)
                    body = {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_exc().splitlines(),
                    }
                    self._send(200, body, {"X-Amz-Function-Error": "Unhandled"})

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Amz-Executed-Version", "$LATEST")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-endpoint", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
