"""Structured logs: one `key=value` line per event, never message text, names or platform ids.

Call sites log stable event names and counts (`event=crisis_reply level=high`); anything a person wrote stays out
by construction, and a filter drops exception text from library code that might quote a payload.
"""

from __future__ import annotations

import logging
import sys
import time


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        message = record.getMessage().replace("\n", " ")
        line = f"ts={stamp}Z level={record.levelname.lower()} logger={record.name} {message}"
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened, not its message: messages can quote user input.
            exc_type = record.exc_info[0].__name__
            tb = record.exc_info[2]
            where = ""
            while tb is not None:
                where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
                tb = tb.tb_next
            line += f" exc={exc_type} at={where}"
        return line


def configure(level: str = "INFO", stream=None) -> None:  # type: ignore[no-untyped-def]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries log request URLs, which carry bot tokens (Telegram) or ids; keep them quiet.
    for noisy in ("httpx", "httpx2", "httpcore", "telegram", "discord", "slack_bolt", "slack_sdk", "aiosqlite", "anthropic",
                  "tornado", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
