"""Process-wide logging: JSON lines on stdout, configured once in each entry point."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

# Attributes some libraries attach to records that only make sense on a colour terminal.
_DROPPED_FIELDS = ("color_message",)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
            reserved_attrs=[*JsonFormatter().reserved_attrs, *_DROPPED_FIELDS],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
