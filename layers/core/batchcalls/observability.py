"""Logs, metrics and traces every function shares: Powertools' JSON Logger, EMF metrics and
its X-Ray Tracer.

The package's modules log through stdlib loggers (``logging.getLogger(__name__)``): they are
children of the ``batchcalls`` logger Powertools configures, so every line is JSON with the
keys the current invocation added (``log_keys``). Keys and metrics are kept per thread: in AWS
a container runs one invocation at a time, but the offline stack runs every function in one
process, and one invocation's ``batch_id`` must never land on another's lines.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "batchcalls"
NAMESPACE = "batchcalls"

F = TypeVar("F", bound=Callable[..., Any])
MetricSink = Callable[[str], None]

_local = threading.local()
_sink: list[MetricSink] = [print]  # EMF: a JSON line on stdout, which CloudWatch reads


@functools.lru_cache(maxsize=1)
def logger() -> Logger:
    """Made on first use (it reads POWERTOOLS_LOG_LEVEL and POWERTOOLS_SERVICE_NAME)."""
    return Logger(service=SERVICE, utc=True)


@functools.lru_cache(maxsize=1)
def tracer() -> Tracer:
    """X-Ray (the template sets ``Tracing: Active``); off outside Lambda, so offline and in
    tests every subsegment is a no-op."""
    return Tracer(service=SERVICE)


def subsegment(name: str) -> Any:
    """A context manager timing one outbound call as its own X-Ray subsegment."""
    return tracer().provider.in_subsegment(name)


def mask_phone(number: str | None) -> str | None:
    """All but the last 4 digits hidden: logs at INFO never hold a whole number."""
    if not number:
        return number
    return re.sub(r"\d(?=(?:\D*\d){4})", "*", number)


def log_keys(**keys: Any) -> None:
    """Add keys to every later line of this invocation (None values are left out). A
    ``phone_number`` is masked unless the level is DEBUG."""
    values = {k: v for k, v in keys.items() if v is not None}
    if "phone_number" in values and logger().log_level > 10:
        values["phone_number"] = mask_phone(values["phone_number"])
    logger().thread_safe_append_keys(**values)


def metric(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """Add to metric ``name`` (namespace ``batchcalls``); flushed when the invocation ends.
    Dimensions stay few and bounded (an outcome, a reason), never an id."""
    per_dimensions: dict[tuple[tuple[str, str], ...], EphemeralMetrics] = _metric_sets()
    key = tuple(sorted(dimensions.items()))
    if key not in per_dimensions:
        metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for dimension, dimension_value in key:
            metrics.add_dimension(name=dimension, value=dimension_value)
        per_dimensions[key] = metrics
    per_dimensions[key].add_metric(name=name, unit=unit, value=value)


def flush_metrics() -> None:
    for metrics in _metric_sets().values():
        blob = metrics.serialize_metric_set()
        _sink[0](json.dumps(blob, separators=(",", ":")))
    _metric_sets().clear()


def set_metric_sink(sink: MetricSink | None) -> None:
    """Where EMF blobs go (offline: each function's log file); None is stdout again."""
    _sink[0] = sink or print


def _metric_sets() -> dict[tuple[tuple[str, str], ...], EphemeralMetrics]:
    if not hasattr(_local, "metrics"):
        _local.metrics = {}
    sets: dict[tuple[tuple[str, str], ...], EphemeralMetrics] = _local.metrics
    return sets


def instrumented(handler: F) -> F:
    """A Lambda handler with the invocation's logging context — function, request id, cold
    start, and an API request's own id as ``correlation_id`` — and its metrics flushed at the
    end. (Powertools' inject_lambda_context would keep these keys on the shared formatter,
    where the offline stack's concurrent invocations would overwrite each other's.)"""
    cold = [True]

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        log = logger()
        log.thread_safe_clear_keys()
        log_keys(
            function_name=getattr(context, "function_name", None),
            function_request_id=getattr(context, "aws_request_id", None),
            cold_start=cold[0],
            correlation_id=_request_id(event),
        )
        cold[0] = False
        try:
            with subsegment("## handler"):
                return handler(event, context)
        finally:
            flush_metrics()
            log.thread_safe_clear_keys()

    return run  # type: ignore[return-value]


def _request_id(event: Any) -> str | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context.get("requestId") if isinstance(context, dict) else None
