"""The generated natsd.api package, and the loader's checks of types, subjects and errors.

test_spec.py checks that the generated files are fresh; here the generated code
itself is exercised: error constructors, the error table against Go's, and
structs rendered from a small spec (decode ``{}`` into defaults, encode back
without them).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import msgspec
import pytest

import natsd.api
from natsd.api import ERRORS, STRICT_TYPES, TYPES, ApiError, by_code, make
from natsd.api import errors as api_errors
from natsd.spec import SpecError, load
from natsd.spec._pyapi import render_types, strict_types
from natsd.spec._syntax import constructor_name

GO_ERRORS = Path("/work/ref/nats-server/server/errors.json")


def test_api_package_imports_and_every_struct_resolves() -> None:
    assert natsd.api.ApiError is ApiError
    assert "stream_not_found" in natsd.api.__all__
    assert STRICT_TYPES <= set(TYPES)
    for cls in TYPES.values():
        msgspec.json.Decoder(cls)  # resolves every annotation, forward refs included


def test_every_default_factory_of_the_real_types_works() -> None:
    for cls in TYPES.values():
        for f in msgspec.structs.fields(cls):
            if f.default_factory is not msgspec.NODEFAULT:
                f.default_factory()  # e.g. a table default must give every required field


def test_there_are_226_errors_with_unique_codes() -> None:
    assert len(ERRORS) == 226
    assert len({v[1] for v in ERRORS.values()}) == 226
    for name in ERRORS:
        assert callable(getattr(api_errors, constructor_name(name)))


def test_stream_not_found_round_trip() -> None:
    e = api_errors.stream_not_found()
    assert (e.code, e.err_code, e.description) == (404, 10059, "stream not found")
    wire = msgspec.json.encode(e)
    assert json.loads(wire) == {"code": 404, "err_code": 10059, "description": "stream not found"}
    assert msgspec.json.decode(wire, type=ApiError) == e
    assert by_code(10059) == "JSStreamNotFoundErr"
    assert make("JSStreamNotFoundErr") == e


def test_placeholders_are_filled_from_keywords() -> None:
    e = api_errors.cluster_no_peers(err=ValueError("no suitable peers for placement"))
    assert (e.code, e.err_code, e.description) == (400, 10005, "no suitable peers for placement")
    e = api_errors.stream_wrong_last_msg_id(id="abc")
    assert e.description == "wrong last msg ID: abc"
    e = api_errors.stream_wrong_last_sequence(seq=41)
    assert e.description == "wrong last sequence: 41"
    with pytest.raises(KeyError):
        api_errors.stream_wrong_last_msg_id()
    with pytest.raises(TypeError):
        api_errors.stream_not_found(stream="x")
    inner = api_errors.stream_not_found()
    assert api_errors.stream_create(err="boom", unless=inner) is inner
    assert api_errors.stream_create(err="boom", unless=ValueError()).description == "boom"


def test_constructor_names_follow_go() -> None:
    assert constructor_name("JSStreamNotFoundErr") == "stream_not_found"
    assert constructor_name("JSClusterNoPeersErrF") == "cluster_no_peers"
    assert constructor_name("JSStreamGeneralErrorF") == "stream_general"
    assert constructor_name("JSStreamWrongLastMsgIDErrF") == "stream_wrong_last_msg_id"
    assert constructor_name("JSConsumerWithFlowControlNeedsHeartbeats") == "consumer_with_flow_control_needs_heartbeats"


@pytest.mark.skipif(not GO_ERRORS.is_file(), reason="Go nats-server source not present")
def test_error_table_matches_go_errors_json() -> None:
    go = {e["constant"]: (e["code"], e["error_code"], e["description"]) for e in json.loads(GO_ERRORS.read_text())}
    assert ERRORS == go


SMALL_SPEC = """
area = "x"
title = "X"

[[type]]
name = "Conf"
go = "server/x.go Conf"
doc = "A config with \\"quotes\\" and a \\\\ backslash."
[[type.field]]
json = "name"
type = "str"
default = ""
[[type.field]]
json = "subjects"
type = "list[str]"
default = []
[[type.field]]
json = "max_msgs"
type = "int64"
default = -1
limits = "-1 = unlimited"
[[type.field]]
json = "max_age"
type = "duration"
default = 0
[[type.field]]
json = "ratio"
type = "float"
default = 1
[[type.field]]
json = "sealed"
type = "bool"
default = false
[[type.field]]
json = "placement"
type = "Place"
optional = true
[[type.field]]
json = "metadata"
type = "map[str, str]"
optional = true
[[type.field]]
json = "x-extra"
py = "x_extra"
type = "any"
optional = true
[[type.field]]
json = "mirrors"
type = "list[Place]"
default = []

[[type]]
name = "Place"
go = "server/x.go Place"
[[type.field]]
json = "cluster"
type = "str"
[[type.field]]
json = "tags"
type = "list[str]"
optional = true

[[subject]]
subject = "$JS.API.X.CREATE.<x>"
go = "server/x.go create"
request = "Conf"
response = "Conf"
"""


def _import_source(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # msgspec resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_generated_struct_decodes_empty_object_into_defaults(tmp_path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.toml").write_text(SMALL_SPEC)
    areas = load(tmp_path / "spec")
    assert strict_types(areas) == ["Conf", "Place"]
    path = tmp_path / "gen_types.py"
    path.write_text(render_types(areas))
    try:
        mod = _import_source("natsd_test_gen_types", path)
        conf = msgspec.json.decode(b"{}", type=mod.Conf)
        assert (conf.name, conf.subjects, conf.max_msgs, conf.max_age, conf.ratio, conf.sealed) == (
            "", [], -1, 0, 1.0, False
        )
        assert conf.placement is None and conf.metadata is None and conf.x_extra is None
        assert msgspec.json.encode(conf) == b"{}"
        wire = b'{"name":"s","max_msgs":5,"placement":{"cluster":"c"},"x-extra":[1],"mirrors":[{"cluster":"m"}],"zz":1}'
        conf = msgspec.json.decode(wire, type=mod.Conf)
        assert conf.placement == mod.Place(cluster="c") and conf.mirrors == [mod.Place(cluster="m")]
        assert json.loads(msgspec.json.encode(conf)) == {
            "name": "s", "max_msgs": 5, "placement": {"cluster": "c"}, "x-extra": [1], "mirrors": [{"cluster": "m"}],
        }
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(b"{}", type=mod.Place)  # cluster is required
        assert mod.TYPES == {"Conf": mod.Conf, "Place": mod.Place}
        assert mod.STRICT_TYPES == {"Conf", "Place"}
        assert "quotes" in mod.Conf.__doc__
    finally:
        sys.modules.pop("natsd_test_gen_types", None)


def test_strict_types_leave_out_requests_of_lenient_subjects(tmp_path) -> None:
    (tmp_path / "spec").mkdir()
    text = (
        'area = "x"\ntitle = "X"\n'
        '[[type]]\nname = "A"\ngo = "g"\n[[type.field]]\njson = "b"\ntype = "list[B]"\n'
        '[[type]]\nname = "B"\ngo = "g"\n'
        '[[type]]\nname = "C"\ngo = "g"\n'
        '[[subject]]\nsubject = "$JS.API.A"\ngo = "g"\nrequest = "A"\n'
        '[[subject]]\nsubject = "$JS.API.C"\ngo = "g"\nrequest = "C"\nstrict = false\n'
    )
    (tmp_path / "spec" / "x.toml").write_text(text)
    assert strict_types(load(tmp_path / "spec")) == ["A", "B"]


def _rejected(tmp_path: Path, files: dict[str, str], match: str) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    for name, text in files.items():
        (spec / name).write_text(text)
    with pytest.raises(SpecError, match=match):
        load(spec)


def _type(name: str, *fields: tuple[str, str]) -> str:
    out = f'[[type]]\nname = "{name}"\ngo = "g"\n'
    for json_name, type_ in fields:
        out += f'[[type.field]]\njson = "{json_name}"\ntype = "{type_}"\n'
    return out


HEAD = 'area = "x"\ntitle = "X"\n'


def test_loader_rejects_a_malformed_field_type(tmp_path) -> None:
    _rejected(tmp_path, {"x.toml": HEAD + _type("A", ("f", "list<str>"))}, "bad field type")


def test_loader_rejects_a_map_with_non_string_keys(tmp_path) -> None:
    _rejected(tmp_path, {"x.toml": HEAD + _type("A", ("f", "map[int,str]"))}, "map")


def test_loader_rejects_a_dangling_type_reference(tmp_path) -> None:
    _rejected(tmp_path, {"x.toml": HEAD + _type("A", ("f", "list[Nope]"))}, "unknown type 'Nope'")


def test_loader_resolves_types_across_areas(tmp_path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "x.toml").write_text(HEAD + _type("A", ("f", "map[str,B]")))
    (tmp_path / "spec" / "y.toml").write_text('area = "y"\ntitle = "Y"\n' + _type("B", ("g", "int")))
    assert [a.area for a in load(tmp_path / "spec")] == ["x", "y"]


def test_loader_rejects_a_type_defined_twice(tmp_path) -> None:
    _rejected(
        tmp_path,
        {"x.toml": HEAD + _type("A"), "y.toml": 'area = "y"\ntitle = "Y"\n' + _type("A")},
        "duplicate type 'A'",
    )


def test_loader_rejects_a_subject_naming_a_missing_type(tmp_path) -> None:
    text = HEAD + '[[subject]]\nsubject = "$JS.API.X"\ngo = "g"\nrequest = "Missing"\n'
    _rejected(tmp_path, {"x.toml": text}, "unknown type 'Missing'")


def test_loader_rejects_a_default_of_the_wrong_type(tmp_path) -> None:
    text = HEAD + _type("A", ("f", "int64")) + 'default = "1s"\n'
    _rejected(tmp_path, {"x.toml": text}, "bad default")


def test_loader_rejects_a_json_name_that_needs_a_py_name(tmp_path) -> None:
    _rejected(tmp_path, {"x.toml": HEAD + _type("A", ("x-y", "int"))}, "Python attribute name")


def test_loader_rejects_duplicate_errors(tmp_path) -> None:
    err = '[[error]]\nname = "{n}"\ncode = 400\nerr_code = {c}\ndescription = "d"\n'
    _rejected(tmp_path, {"x.toml": HEAD + err.format(n="JSAErr", c=1) + err.format(n="JSBErr", c=1)}, "err_code 1")
    (tmp_path / "spec" / "x.toml").unlink()
    (tmp_path / "spec" / "x.toml").write_text(HEAD + err.format(n="JSAErr", c=1) + err.format(n="JSAErr", c=2))
    with pytest.raises(SpecError, match="duplicate error name"):
        load(tmp_path / "spec")
