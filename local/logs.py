"""Each function's log lines in its own file, ``.local/logs/<Function>.jsonl``, as CloudWatch
keeps a log group per function: the same JSON lines (Powertools' formatter) and EMF metric
blobs an operator reads there. Every function runs in this process, so the function a line
belongs to is the one the invoking thread runs (``LambdaRuntime.invoke`` sets it)."""

from __future__ import annotations

import contextvars
import logging
import threading
from pathlib import Path
from typing import IO

CURRENT_FUNCTION: contextvars.ContextVar[str] = contextvars.ContextVar("current_function", default="Other")


class FunctionLogs(logging.Handler):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """A line (a formatted record, or an EMF blob) in the current function's file."""
        function = CURRENT_FUNCTION.get()
        with self._write_lock:
            out = self._files.get(function)
            if out is None:
                out = self._files[function] = (self.directory / f"{function}.jsonl").open(
                    "a", encoding="utf-8"
                )
            out.write(line + "\n")
            out.flush()

    def close(self) -> None:
        with self._write_lock:
            for out in self._files.values():
                out.close()
            self._files.clear()
        super().close()
