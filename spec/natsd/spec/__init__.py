"""natsd.spec: the machine-readable parity spec (spec/*.toml) and its generator.

Each area file holds rules::

    [[rule]]
    id = "protocol.pub.max_payload"
    statement = "A PUB whose size exceeds max_payload gets -ERR 'Maximum Payload Violation' and is closed."
    go = "server/client.go processPub"
    status = "Y"            # Y | partial | N | differs
    model = ""              # natsd.model function implementing it, when there is one
    tests = ["tests/test_x.py::test_y"]
    note = ""               # why, for partial / differs / N

and, for the JetStream API, ``[[type]]`` (with ``[[type.field]]``), ``[[subject]]``,
``[[header]]`` and ``[[error]]`` tables (see the Structs in ``_load.py``; the
field-type grammar is in ``_syntax.py``).

``load()`` validates them (unknown keys, duplicate ids, bad statuses, dangling
tests; field types that parse and resolve across areas, defaults that fit their
type, unique type names, subjects naming existing types, unique error names and
err_codes); ``python -m natsd.spec generate`` writes docs/spec/<area>.md,
differences.md and the ``natsd.api`` package (impl/natsd/api/: ``_types.py``,
``errors.py``, ``__init__.py``) from them.
"""

from ._load import (
    ROOT,
    SPEC_DIR,
    ApiErrorSpec,
    Area,
    Field,
    Header,
    Rule,
    SpecError,
    Subject,
    Type,
    load,
    test_exists,
)

__all__ = [
    "ROOT", "SPEC_DIR", "ApiErrorSpec", "Area", "Field", "Header", "Rule", "SpecError", "Subject", "Type",
    "load", "test_exists",
]
