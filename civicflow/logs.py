"""Process-wide logging, configured once in each entry point: JSON lines, or readable lines on a terminal.

Every line written while a run is being driven (or an RPC about one is served) carries the run's
`instance_id`, and every line written inside a trace its `trace_id` (RunContextFilter).

LOG_FORMAT chooses: `json` (one JSON object a line, for collectors), `human` (`LEVEL logger: message
key=value ...`), or `auto`, the default: human when standard output, where the lines go, is a
terminal, JSON otherwise. The launcher decides once for all its services, whose output it relays.
"""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

from civicflow.tracing import current_trace_id

LogFormat = Literal["auto", "human", "json"]
ResolvedLogFormat = Literal["human", "json"]

# Attributes some libraries attach to records that only make sense on a colour terminal.
_DROPPED_FIELDS = ("color_message",)
# What every LogRecord carries; anything else on a record came in through `extra=` and is shown.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", *_DROPPED_FIELDS}


# The run the current task works for: asyncio tasks copy it from the task that starts them.
_instance_id: ContextVar[str | None] = ContextVar("civicflow_instance_id", default=None)


def bind_instance_id(instance_id: uuid.UUID | str) -> None:
    """Every log line of this task from now on, and of the tasks it starts, names the run `instance_id`."""
    _instance_id.set(str(instance_id))


class RunContextFilter(logging.Filter):
    """Adds `instance_id` (of the run being worked on) and `trace_id` (of the current span) where they exist.

    A record that names them itself (extra=) keeps its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "instance_id"):
            instance_id = _instance_id.get()
            if instance_id is not None:
                record.instance_id = instance_id
        if not hasattr(record, "trace_id"):
            trace_id = current_trace_id()
            if trace_id is not None:
                record.trace_id = trace_id
        return True


def resolve_log_format(log_format: LogFormat, stream: TextIO | None = None) -> ResolvedLogFormat:
    """`auto` becomes human when the stream the lines go to (stdout unless given) is a terminal."""
    if log_format != "auto":
        return log_format
    return "human" if _is_terminal(sys.stdout if stream is None else stream) else "json"


def log_format_from_environment(value: str | None) -> LogFormat:
    """LOG_FORMAT for a command without a settings class; anything unknown is auto, as logging must not stop it."""
    return value if value in ("human", "json") else "auto"  # type: ignore[return-value]


def configure_logging(service: str, level: str = "INFO", log_format: LogFormat = "auto") -> ResolvedLogFormat:
    """Sends every log record to stdout in the format chosen; answers the format, resolved."""
    resolved = resolve_log_format(log_format)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        # The time only when this process writes to the terminal itself: the launcher's prefix carries it otherwise.
        HumanFormatter(with_time=_is_terminal(sys.stdout)) if resolved == "human" else _json_formatter(service)
    )
    handler.addFilter(RunContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return resolved


class HumanFormatter(logging.Formatter):
    """`[HH:MM:SS.mmm ]LEVEL logger: message key=value ...`, the extras in the order they were given."""

    def __init__(self, *, with_time: bool) -> None:
        super().__init__()
        self._with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        extras = [f"{key}={value}" for key, value in record.__dict__.items() if key not in _RECORD_FIELDS]
        if extras:
            line += "  " + " ".join(extras)
        if self._with_time:
            line = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3] + " " + line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _json_formatter(service: str) -> JsonFormatter:
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
        reserved_attrs=[*JsonFormatter().reserved_attrs, *_DROPPED_FIELDS],
    )


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # a closed stream
        return False
