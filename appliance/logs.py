"""Logging the journal reads well.

Under systemd (JOURNAL_STREAM set) each line starts with its syslog priority
(`<3>`, `<4>`, `<6>`, `<7>`) so `journalctl -p warning` works, and carries no
timestamp of its own (the journal adds one). In a terminal lines get a time.
Services log through `logging`, never `print`.
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    """`<priority>process logger: message` for stderr captured by journald."""

    def __init__(self, process: str) -> None:
        super().__init__(f"{process} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # journald splits on newlines; each line of a traceback keeps its priority.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def under_journal() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def setup_logging(process: str, level: str = "info") -> None:
    """Configure the root logger once for process `process` (e.g. "chaosgarden")."""
    handler = logging.StreamHandler(sys.stderr)
    if under_journal():
        handler.setFormatter(JournalFormatter(process))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)-7s {process} %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
