"""Log lines with levels over `wasi:logging` for Python guests
(`from revenant import log; log.info("payment", "charged")`): each is a `log` event of
the worker with its level and context (`revenant connect`, the console, the router's
SSE events), shown live and not again while the worker replays. Not journaled.
Your world must `import wasi:logging/logging@0.1.0-draft;`.
"""

from __future__ import annotations

from wit_world.imports import logging as _wasi_logging

__all__ = ["log", "trace", "debug", "info", "warn", "error", "critical"]

_LEVELS = ("trace", "debug", "info", "warn", "error", "critical")


def log(level: str, context: str, message: str) -> None:
    """Logs `message` at `level` (one of trace, debug, info, warn, error, critical);
    `context` groups related lines (a module, a subsystem)."""
    if level not in _LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(_LEVELS)}")
    _wasi_logging.log(getattr(_wasi_logging.Level, level.upper()), context, message)


def trace(context: str, message: str) -> None:
    log("trace", context, message)


def debug(context: str, message: str) -> None:
    log("debug", context, message)


def info(context: str, message: str) -> None:
    log("info", context, message)


def warn(context: str, message: str) -> None:
    log("warn", context, message)


def error(context: str, message: str) -> None:
    log("error", context, message)


def critical(context: str, message: str) -> None:
    log("critical", context, message)
