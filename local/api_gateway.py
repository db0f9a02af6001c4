"""A local API Gateway (REST) for the template's routes: CORS preflight, the REQUEST
authorizer with the template's gateway responses, proxy events to the handlers."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.lambdas import LambdaRuntime
from local.template import ACCOUNT, REGION, Route, Template

logger = logging.getLogger("local.api")

UNAUTHORIZED = {"error": "Unauthorized"}
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
STAGE = "local"


class ApiGateway:
    def __init__(self, template: Template, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 3000):
        self.routes: list[Route] = template.routes()
        self.cors = template.cors()
        self.authorizer = template.authorizer_function()
        self.runtime = runtime
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                gateway.handle(self)

            def do_POST(self) -> None:
                gateway.handle(self)

            def do_PUT(self) -> None:
                gateway.handle(self)

            def do_DELETE(self) -> None:
                gateway.handle(self)

            def do_PATCH(self) -> None:
                gateway.handle(self)

            def do_OPTIONS(self) -> None:
                gateway.preflight(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling ----------------------------------------------------------------

    def _cors_headers(self) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": self.cors.get("AllowOrigin", "*")}

    def preflight(self, request: BaseHTTPRequestHandler) -> None:
        headers = {
            **self._cors_headers(),
            "Access-Control-Allow-Headers": self.cors.get("AllowHeaders", ""),
            "Access-Control-Allow-Methods": self.cors.get("AllowMethods", ""),
            "Access-Control-Max-Age": self.cors.get("MaxAge", "600"),
        }
        self._reply(request, 200, headers, b"")

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._json(request, 413, {"error": "Request body is larger than 10 MB"})
            return
        body = request.rfile.read(length) if length else b""
        for route in self.routes:
            params = route.match(method, parts.path)
            if params is not None:
                break
        else:
            self._json(request, 404, {"error": f"No route for {method} {parts.path}"})
            return
        headers = {k: v for k, v in request.headers.items()}
        authorizer_context: dict[str, Any] | None = None
        if route.auth:
            authorizer_context = self._authorize(route, headers)
            if authorizer_context is None:
                self._json(request, 401, UNAUTHORIZED)
                return
        event = self._event(route, method, parts.path, parts.query, headers, body, params, authorizer_context)
        try:
            result = self.runtime.invoke(route.function, event)
        except Exception:
            logger.exception("%s %s failed", method, parts.path)
            self._json(request, 502, {"error": "Internal server error"})
            return
        out_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        out_body = result.get("body") or ""
        data = base64.b64decode(out_body) if result.get("isBase64Encoded") else out_body.encode()
        self._reply(request, int(result.get("statusCode", 200)), out_headers, data)

    def _authorize(self, route: Route, headers: dict[str, str]) -> dict[str, Any] | None:
        if not any(k.lower() == "authorization" and v for k, v in headers.items()):
            return None  # identity source missing: API Gateway answers 401 without calling it
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/{STAGE}/{route.method}{route.path}"
        event = {"type": "REQUEST", "methodArn": method_arn, "headers": headers, "httpMethod": route.method}
        try:
            policy = self.runtime.invoke(self.authorizer, event)
        except Exception:
            return None
        statements = policy.get("policyDocument", {}).get("Statement", [])
        if not any(s.get("Effect") == "Allow" for s in statements):
            return None
        return {"principalId": policy.get("principalId"), **(policy.get("context") or {})}

    def _event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str],
        authorizer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        multi_query = parse_qs(query, keep_blank_values=True)
        text: str | None
        try:
            text, is_b64 = (body.decode() if body else None), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": {**headers, "X-Forwarded-Proto": "http"},
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": path,  # the local API has no stage prefix in its URLs
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "accountId": ACCOUNT,
                "apiId": "local",
                "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": authorizer,
            },
            "body": text,
            "isBase64Encoded": is_b64,
        }

    def _json(self, request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", **self._cors_headers()}
        self._reply(request, status, headers, json.dumps(body).encode())

    def _reply(
        self, request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            if key.lower() != "content-length":
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
