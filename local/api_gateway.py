"""A local API Gateway (REST) for the template's routes: CORS preflight, the REQUEST
authorizer, proxy events to the handlers, and the errors API Gateway answers by itself (no
route, a body over 10 MB, a refused key, a failed function) rendered from the template's
gateway responses exactly as API Gateway renders them."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.lambdas import LambdaRuntime
from local.template import ACCOUNT, REGION, Route, Template

logger = logging.getLogger("local.api")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
STAGE = "local"

# The gateway response types the local gateway answers: API Gateway's default status and
# message for each (what ``$context.error.message`` holds).
GATEWAY_ERRORS: dict[str, tuple[int, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),  # no such route/method
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    "THROTTLED": (429, "Too Many Requests"),
    "DEFAULT_5XX": (502, "Internal server error"),  # a Lambda proxy integration that failed
}
_CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z]+(?:\.[A-Za-z]+)*")


@dataclass(frozen=True)
class GatewayError:
    status: int
    headers: dict[str, str]
    body: bytes


def render_gateway_response(template: Template, response_type: str, request_id: str = "") -> GatewayError:
    """The error API Gateway sends for ``response_type`` under the template's GatewayResponses:
    the type's own entry, else DEFAULT_4XX/DEFAULT_5XX by status, else AWS's default body.

    A gateway response template is not VTL, only variable substitution (hand-written here, as
    nothing maintained does it): ``$context.error.messageString`` is the message already
    JSON-quoted, ``$context.error.message`` the bare text; unknown variables render empty."""
    status, message = GATEWAY_ERRORS[response_type]
    api = next(iter(template.of_type("AWS::Serverless::Api").values()))
    configured = api["Properties"].get("GatewayResponses", {})
    fallback = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
    response = configured.get(response_type) or configured.get(fallback) or {}
    status = int(response.get("StatusCode", status))
    headers = {"Content-Type": "application/json"}
    for name, value in (response.get("ResponseParameters", {}).get("Headers") or {}).items():
        headers[name] = str(value).strip("'")  # static header values are single-quoted
    body_template = (response.get("ResponseTemplates") or {}).get("application/json")
    if body_template is None:
        return GatewayError(status, headers, json.dumps({"message": message}).encode())
    variables = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.responseType": response_type,
        "$context.requestId": request_id,
    }
    body = _CONTEXT_VARIABLE.sub(lambda found: variables.get(found.group(0), ""), str(body_template))
    return GatewayError(status, headers, body.encode())


class ApiGateway:
    def __init__(self, template: Template, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 3000):
        self.template = template
        self.routes: list[Route] = template.routes()
        self.cors = template.cors()
        self.authorizer = template.authorizer_function()
        self.runtime = runtime
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without TCP_NODELAY each response waits
            # for the client's delayed ACK (~40 ms a request; 3 ms with it).
            disable_nagle_algorithm = True

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
            self._drain(request, length)
            self._gateway_error(request, "REQUEST_TOO_LARGE")
            return
        body = request.rfile.read(length) if length else b""
        for route in self.routes:
            params = route.match(method, parts.path)
            if params is not None:
                break
        else:
            # API Gateway answers an unknown resource or method so, route or no key alike.
            self._gateway_error(request, "MISSING_AUTHENTICATION_TOKEN")
            return
        headers = {k: v for k, v in request.headers.items()}
        authorizer_context: dict[str, Any] | None = None
        if route.auth:
            authorizer_context, refusal = self._authorize(route, headers)
            if authorizer_context is None:
                self._gateway_error(request, refusal)
                return
        event = self._event(route, method, parts.path, parts.query, headers, body, params, authorizer_context)
        try:
            result = self.runtime.invoke(route.function, event)
        except Exception:
            logger.exception("%s %s failed", method, parts.path)
            self._gateway_error(request, "DEFAULT_5XX")
            return
        out_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        out_body = result.get("body") or ""
        data = base64.b64decode(out_body) if result.get("isBase64Encoded") else out_body.encode()
        self._reply(request, int(result.get("statusCode", 200)), out_headers, data)

    def _authorize(self, route: Route, headers: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
        """The authorizer's context, or None and the gateway response type of the refusal."""
        if not any(k.lower() == "authorization" and v for k, v in headers.items()):
            return None, "UNAUTHORIZED"  # identity source missing: 401 without calling it
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/{STAGE}/{route.method}{route.path}"
        event = {"type": "REQUEST", "methodArn": method_arn, "headers": headers, "httpMethod": route.method}
        try:
            policy = self.runtime.invoke(self.authorizer, event)
        except Exception as exc:
            # Only this exact error means "401"; any other failure of the authorizer is a 500.
            if str(exc) == "Unauthorized":
                return None, "UNAUTHORIZED"
            logger.exception("the authorizer failed")
            return None, "AUTHORIZER_CONFIGURATION_ERROR"
        statements = policy.get("policyDocument", {}).get("Statement", [])
        if not any(s.get("Effect") == "Allow" for s in statements):
            return None, "ACCESS_DENIED"
        return {"principalId": policy.get("principalId"), **(policy.get("context") or {})}, ""

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

    def _gateway_error(self, request: BaseHTTPRequestHandler, response_type: str) -> None:
        error = render_gateway_response(self.template, response_type, str(uuid.uuid4()))
        self._reply(request, error.status, error.headers, error.body)

    @staticmethod
    def _drain(request: BaseHTTPRequestHandler, length: int) -> None:
        """Read a refused body to its end, so the client gets the answer rather than a reset
        connection, and close the connection after it."""
        while length > 0:
            chunk = request.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
        request.close_connection = True

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
