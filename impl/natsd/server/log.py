"""Logging in the Go server's style (logger/log.go).

``[pid] 2006/01/02 15:04:05.000000 [INF] message``. Debug (-D) and trace (-V)
levels are enabled by options; -l writes to a file instead of stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import time

__all__ = ["setup", "logger", "TRACE"]

TRACE = 5
logging.addLevelName(TRACE, "TRC")
_LABELS = {TRACE: "TRC", logging.DEBUG: "DBG", logging.INFO: "INF", logging.WARNING: "WRN",
           logging.ERROR: "ERR", logging.CRITICAL: "FTL"}

logger = logging.getLogger("natsd")


class _GoFormatter(logging.Formatter):
    def __init__(self, logtime: bool) -> None:
        super().__init__()
        self.logtime = logtime
        self.pid = os.getpid()

    def format(self, record: logging.LogRecord) -> str:
        label = _LABELS.get(record.levelno, "INF")
        msg = record.getMessage()
        if self.logtime:
            t = time.localtime(record.created)
            us = int((record.created % 1) * 1_000_000)
            stamp = time.strftime("%Y/%m/%d %H:%M:%S", t) + f".{us:06d}"
            return f"[{self.pid}] {stamp} [{label}] {msg}"
        return f"[{self.pid}] [{label}] {msg}"


def setup(*, debug: bool = False, trace: bool = False, logtime: bool = True, log_file: str = "",
          quiet: bool = False) -> logging.Logger:
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler: logging.Handler
    if quiet:
        handler = logging.NullHandler()
    elif log_file:
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_GoFormatter(logtime))
    logger.addHandler(handler)
    logger.setLevel(TRACE if trace else logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger
