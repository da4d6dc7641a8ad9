"""natsd.jetstream: the JetStream cores (sans-IO).

- ``natsd.jetstream.headers``: header blocks with Go's lookup semantics, Go
  durations and RFC3339Nano times.
- ``natsd.jetstream.streamcfg``: stream config normalisation and validation
  (Go ``checkStreamCfg``, ``configUpdateCheck``), subject collision and the
  subject transform used by streams.
- ``natsd.jetstream.stream``: the stream state machine (publish rules,
  dedupe, purge, get, delete, direct get, info, expiry).

Errors that the Go server reports as JetStream API errors are returned as
``natsd.api.ApiError`` values; where a function cannot return one (config
checks produce a config), it raises ``ApiErrorException`` carrying the
ApiError. Nothing here touches sockets, tasks or clocks.
"""

from __future__ import annotations

from natsd.api.errors import ApiError


class ApiErrorException(Exception):
    """A JetStream API error raised by a core; ``.error`` is the ApiError to reply with.

    Raised for input the client got wrong (a bad config, a conflicting
    request). The API layer catches it at one point and replies with
    ``error``; it is never a sign that the server broke.
    """

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.description)
        self.error = error

    def __repr__(self) -> str:
        e = self.error
        return f"ApiErrorException({e.code}, {e.err_code}, {e.description!r})"


from .stream import Stream, encode_puback  # noqa: E402
from .streamcfg import check_config, check_update, subjects_overlap  # noqa: E402

__all__ = [
    "ApiErrorException",
    "Stream",
    "encode_puback",
    "check_config",
    "check_update",
    "subjects_overlap",
]
