"""The desired-state YAML loader reads libyaml's events directly; these tests hold it to what the former
loader (PyYAML's composer and constructor, kept below as `_old_load_text`) and `yaml.SafeLoader` give:
the same values, positions and errors, on hand-written tricky documents and on generated ones."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired import yamlsource
from reconciler.desired.yamlsource import Pos, YamlError, YList, YMap, load_file, load_text, position

HAVE_LIBYAML = hasattr(yaml, "CSafeLoader")
ALIAS_MSG = ("YAML syntax error: YAML aliases (*name) and merge keys (<<) are not allowed in desired state; "
             "write the value out")
MERGE_MSG = "YAML syntax error: YAML merge keys (<<) are not allowed in desired state; write the values out"


# -- the former loader, verbatim but for the base class (libyaml or pure Python) ---------------------

@dataclass(frozen=True)
class _OldPos:
    line: int
    col: int


def _old_pos(mark: yaml.Mark) -> _OldPos:
    return _OldPos(mark.line + 1, mark.column + 1)


class _OldMap(dict[Any, Any]):
    pos: _OldPos
    key_pos: dict[Any, _OldPos]
    value_pos: dict[Any, _OldPos]


class _OldList(list[Any]):
    pos: _OldPos
    item_pos: list[_OldPos]


class _OldDuplicateKeyError(yaml.MarkedYAMLError):
    pass


def _old_no_alias(loader: Any, node: yaml.Node) -> None:
    if node in loader.constructed_objects or node in loader._seen_nodes:
        raise yaml.constructor.ConstructorError(None, None, "YAML aliases (*name) and merge keys (<<) are not "
                                                "allowed in desired state; write the value out", node.start_mark)
    loader._seen_nodes.add(node)


def _old_construct_mapping(loader: Any, node: yaml.MappingNode) -> _OldMap:
    if any(isinstance(k, yaml.ScalarNode) and k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
        raise yaml.constructor.ConstructorError(None, None, "YAML merge keys (<<) are not allowed in desired "
                                                "state; write the values out", node.start_mark)
    out = _OldMap()
    out.pos = _old_pos(node.start_mark)
    out.key_pos, out.value_pos = {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key_node, yaml.ScalarNode) and not isinstance(key, str):
            key = key_node.value
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "mapping keys must be scalars",
                                                    key_node.start_mark)
        if key in out:
            raise _OldDuplicateKeyError("while reading a mapping", node.start_mark,
                                        f"duplicate key {key!r} (first at line {out.key_pos[key].line})",
                                        key_node.start_mark)
        _old_no_alias(loader, value_node)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key] = _old_pos(key_node.start_mark)
        out.value_pos[key] = _old_pos(value_node.start_mark)
    return out


def _old_construct_sequence(loader: Any, node: yaml.SequenceNode) -> _OldList:
    for child in node.value:
        _old_no_alias(loader, child)
    out = _OldList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos = _old_pos(node.start_mark)
    out.item_pos = [_old_pos(child.start_mark) for child in node.value]
    return out


def _old_loader(base: type) -> type:
    class Loader(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._seen_nodes: set[yaml.Node] = set()

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _old_construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _old_construct_sequence)
    return Loader


_OLD_C = _old_loader(yaml.CSafeLoader) if HAVE_LIBYAML else None
_OLD_PY = _old_loader(yaml.SafeLoader)


def _old_load_text(text: str, file: str, loader: type) -> Any:
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if isinstance(exc, _OldDuplicateKeyError):
            raise YamlError(file, line, col, problem) from None
        last = max(1, len(text.splitlines()))
        if line > last:
            line, col = last, max(1, len(text.splitlines()[-1]) if text.splitlines() else 1)
            problem += " (reached the end of the file: is a bracket or quote left open?)"
        if exc.context and exc.context_mark and exc.context_mark is not mark and exc.context_mark.line < last:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise YamlError(file, line, col, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(file, 1, 1, str(exc)) from None


# -- comparing --------------------------------------------------------------------------------------

LOADERS = ["libyaml", "python"] if HAVE_LIBYAML else ["python"]


@pytest.fixture(params=LOADERS)
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Run the new loader on libyaml and on the pure-Python parser; returns the matching old loader."""
    if request.param == "python":
        monkeypatch.setattr(yamlsource, "_Loader", yamlsource._make_loader(yaml.SafeLoader))
        return _OLD_PY
    return _OLD_C  # type: ignore[return-value]


def _safe(old_loader: type) -> type:
    return yaml.SafeLoader if old_loader is _OLD_PY else yaml.CSafeLoader


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except YamlError as exc:
        return "error", (exc.file, exc.line, exc.col, exc.message)
    except Exception as exc:  # a crash must at least be the same crash
        return "crash", (type(exc), str(exc))


def _xy(pos: Any) -> tuple[int, int]:
    return (pos.line, pos.col)


def _same_scalar(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _diff(new: Any, old: Any, path: tuple[Any, ...] = ()) -> Iterator[str]:
    """Differences between a new result (YMap/YList, Pos) and an old one (_OldMap/_OldList, _OldPos)."""
    if isinstance(old, _OldMap):
        if type(new) is not YMap:
            yield f"{path}: {type(new).__name__} instead of a YMap"
            return
        if list(new) != list(old):
            yield f"{path}: keys {list(new)!r} != {list(old)!r}"
            return
        if _xy(new.pos) != _xy(old.pos):
            yield f"{path}: pos {new.pos} != {old.pos}"
        for key in old:
            if _xy(new.key_pos[key]) != _xy(old.key_pos[key]) or _xy(new.value_pos[key]) != _xy(old.value_pos[key]):
                yield f"{(*path, key)}: key/value pos {new.key_pos[key]}/{new.value_pos[key]} != " \
                      f"{old.key_pos[key]}/{old.value_pos[key]}"
            if list(new.key_pos) != list(old.key_pos) or list(new.value_pos) != list(old.value_pos):
                yield f"{path}: position key order"
            yield from _diff(new[key], old[key], (*path, key))
    elif isinstance(old, _OldList):
        if type(new) is not YList or len(new) != len(old):
            yield f"{path}: {new!r} != {old!r}"
            return
        if _xy(new.pos) != _xy(old.pos) or [_xy(p) for p in new.item_pos] != [_xy(p) for p in old.item_pos]:
            yield f"{path}: positions {new.pos} {new.item_pos} != {old.pos} {old.item_pos}"
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            yield from _diff(a, b, (*path, i))
    elif isinstance(old, list | tuple | set | dict):  # what !!omap, !!pairs, !!set build (SafeLoader: plain
        # dicts and lists inside them, where the loaders give YMap/YList)
        if not isinstance(new, type(old)) or len(new) != len(old):
            yield f"{path}: {new!r} != {old!r}"
            return
        if isinstance(old, set | dict):
            if new != old:
                yield f"{path}: {new!r} != {old!r}"
            return
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            yield from _diff(a, b, (*path, i))
    elif not _same_scalar(new, old):
        yield f"{path}: {new!r} ({type(new).__name__}) != {old!r} ({type(old).__name__})"


def _has_alias(text: str, loader: type) -> bool:
    try:
        return any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(text, Loader=loader))
    except yaml.YAMLError:
        return False


def _composes(text: str, loader: type) -> bool:
    try:
        yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return False
    return True


def check_same_as_old(text: str, old_loader: type) -> Any:
    """The new loader gives what the old one gave: value and positions, or the same error. Aliases are the
    exception: refused by the new loader wherever they appear, at the alias."""
    new = _outcome(load_text, text, "f.yaml")
    old = _outcome(_old_load_text, text, "f.yaml", old_loader)
    if _has_alias(text, old_loader) and _composes(text, old_loader):
        assert new[0] == "error", (text, new, old)
        assert new[1][3] == ALIAS_MSG or new == old, (text, new, old)
        return None
    assert new[0] == old[0], (text, new, old)
    if new[0] != "ok":
        assert new[1] == old[1], (text, new, old)
        return None
    differences = list(_diff(new[1], old[1]))
    assert not differences, (text, differences)
    return new[1]


# -- a second oracle: yaml.SafeLoader's constructor over yaml.compose's nodes ---------------------------

def _expected(node: yaml.Node | None, ctor: Any) -> Any:
    """What the loader should give for a composed node: SafeLoader's values, the composer's positions,
    scalar keys kept as written unless they construct to a str."""
    if node is None:
        return None
    if isinstance(node, yaml.MappingNode) and node.tag == yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG:
        out = _OldMap()
        out.pos, out.key_pos, out.value_pos = _old_pos(node.start_mark), {}, {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = key_node.value
            out[key] = _expected(value_node, ctor)
            out.key_pos[key], out.value_pos[key] = _old_pos(key_node.start_mark), _old_pos(value_node.start_mark)
        return out
    if isinstance(node, yaml.SequenceNode) and node.tag == yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG:
        seq = _OldList(_expected(child, ctor) for child in node.value)
        seq.pos, seq.item_pos = _old_pos(node.start_mark), [_old_pos(c.start_mark) for c in node.value]
        return seq
    return ctor.construct_document(node)


SAFE = yaml.CSafeLoader if HAVE_LIBYAML else yaml.SafeLoader  # the default parser of load_text


def check_same_as_safeloader(text: str, value: Any, safe: type = SAFE) -> None:
    """`safe`: yaml.SafeLoader, or yaml.CSafeLoader (the same with libyaml's parser)."""
    node = yaml.compose(text, Loader=safe)
    expected = _expected(node, safe(""))
    differences = list(_diff(value, expected))
    assert not differences, (text, differences)
    if node is None or node.tag not in (yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                        yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG):
        assert _same_scalar(value, yaml.load(text, Loader=safe)) or isinstance(value, list | set | dict), text  # noqa: S506


# -- hand-written documents ------------------------------------------------------------------------------

SCALARS = [
    # ints: decimal, octal, hex, binary, underscores, signs, sexagesimal; not-quite ints
    "0", "7", "3600", "-12", "+12", "010", "0o17", "0x1F", "0x_", "0b101", "-0b1", "1_000", "190:20:30",
    "08", "09", "0_", "00", "٣", "¹", "12345678901234567890",
    # floats: 1.10 stays text as a key; exponents; sexagesimal; inf/nan
    "1.10", "1.0", "-1.5", "1e3", "1.0e+3", "1.0e3", ".5", "6.8523015e+5", "685.230_15e+03", "190:20:30.15",
    ".inf", "-.Inf", "+.INF", ".NaN", "0.", "1.", "._", ".",
    # bools and nulls in every YAML 1.1 spelling
    "on", "off", "On", "OFF", "yes", "no", "Yes", "NO", "y", "n", "Y", "true", "False", "TRUE",
    "null", "Null", "NULL", "~", "none",
    # timestamps
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2002-12-14T21:59:43Z",
    "2001-13-14",
    # plain strings, some starting with a resolver's first character
    "hello", "h0", "v=spf1 -all", "10.0.0.1", "172.16.0.255", "2001:db8::1", "fe80::1", "-", "-foo",
    "+x", ".x", "nope", "type", "ttl", "1.2.3", "1-2", "a b c", "한국어 이름", "ns1.bench.kr.", "=x",
    "<x", "~x", "@",
]

QUOTED = ["'010'", '"on"', "'1.10'", '"~"', "''", '""', "'it''s'", '"tab\\there"', '"\\u00e9"',
          '"multi\n  line"', "'한국어'", '"3600"', "'<<'", "'='"]

DOCUMENTS = [
    "", "\n", "# only a comment\n", "---\n", "--- \n...\n", "~\n", "5\n", "'x'\n", "on\n", "[]\n", "{}\n",
    "a:\n", "a: \nb: ~\nc: null\n", ": x\n", "? a\n", "? \n: \n",
    "a: 1\nb: [1, 2, {c: d}]\nc:\n  - x\n  - y: z\n    w: [on, off]\n",
    "- a\n- - b\n  - c\n-\n  - d\n- {e: [f, {g: h}]}\n",
    "{a: 1, b: [x, y], 'c': \"d\", ? e : f}\n",
    "[a, b: c, {d: e}, [f]]\n",
    "text: |\n  line one\n  line two\n\nfolded: >\n  folded\n  text\n\n  para\nkeep: |+\n  kept\n\nstrip: >-\n  x\n",
    "plain: multi\n  line\n  plain\nquoted: 'multi\n\n  line'\n",
    "이름: 한국어\n값: [하나, 둘]\n",
    "on: 1\noff: 2\nyes: 3\n010: 4\n1.10: 5\n~: 6\nnull: 7\n2001-12-14: 8\n0x1F: 9\n",
    "1: a\n'1': b\n",
    "a: !!str 010\nb: !!int '010'\nc: !!float '1'\nd: !!bool 'yes'\ne: !!null ''\nf: !!binary aGVsbG8=\n"
    "g: !!timestamp 2001-12-14\nh: ! 010\ni: !!str\nj: ! '010'\n",
    "!!str 010: a\n!!int 011: b\n!!binary aGk=: c\n",
    "a: !!map {b: 1}\nc: !!seq [1]\nd: ! {e: 1}\nf: ! [2]\n",
    "s: !!set {a, b}\no: !!omap [a: 1, b: {c: [d]}]\np: !!pairs [a: 1, a: 2]\n",
    "!!set {a, b}\n", "!!omap [a: 1]\n", "--- !!str\n", "--- !!map\na: 1\n",
    "a: &anchor 1\nb: &other [x, &inner {y: z}]\n&k c: d\n",
    "records:\n  '@':\n    type: NS\n    value: ns1.example.\n  www:\n    type: A\n    ttl: 3600\n"
    "    values:\n    - 10.0.0.1\n    - 10.0.0.2\n  txt:\n    type: TXT\n    values: ['v=spf1 -all']\n",
    "%YAML 1.1\n---\na: 1\n", "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "a: 1\n...\n", "--- a\n", "---\n- 1\n...\n",
    "a: 'x\n", "a: [1, 2\n", "a: {b: 1\n", "a: \"x", "\ta: 1", "a: b: c", "- a\nb: c\n", "a:\n- b\n c\n",
    "[a, b]]\n", "a: 1\n---\nb: 2\n", "a: 1\n...\n---\nb: 1", "---\n---\n", "x\n--- [\n",
    "a: 1\na: 2\n", "a: {x: 1, x: 2}\n", "- {a: 1, a: 2}\n", "on: 1\n'on': 2\n", "1.10: a\n'1.10': b\n",
    "a: 1\n<<: {b: 2}\n", "<<: {b: 2}\n", "a: {<<: {b: 2}}\n", "a: <<\n", "a: =\n", "= : 1\n",
    "a: !!merge x\n", "!!merge x: 1\n", "'<<': 1\n",
    "a: !foo 1\n", "a: !!python/object:os.system x\n", "a: !foo [1]\n", "!foo x: 1\n",
    "? [a]\n: 1\n", "? {a: b}\n: 1\n", "[a]: 1\n", "? !!set {a}\n: 1\n",
    "a: &x 1\nb: &x 2\n", "a: *x\n", "[*x]\n",
    "a: &x 1\nb: *x\n", "- &x [1]\n- *x\n", "&x a: 1\nb: *x\n", "x: &a foo\n*a : bar\n", "&a [*a]\n",
    "&a {x: *a}\n", "a: &x {b: 1}\nc: [*x, 2]\n", "b: &x 1\nc: !!omap [a: *x]\n",
    # several errors in one file: the former loader read the whole document before constructing it
    "a: 1\na: 2\nb: [\n", "a: !foo x\nb: 'unterminated\n", "a: 1\na: 2\n---\nc: 1\n",
    "a: {x: 1, x: 2}\n<<: {}\n", "a:\n  b: {x: 1, x: 2}\n  <<: {}\n<<: {}\n", "- {x: 1, x: 2}\n- <<\n",
    "- [!foo x]\n- {<<: 1}\n", "a: &x 1\nb: [{c: 1, c: 2}, *x]\n", "a: &x 1\nb: [[{c: 1, c: 2}], *x]\n",
    "? [a]\n: {b: 1, b: 2}\n", "? {a: 1, a: 2}\n: 1\n", "a: !foo x\nb: *y\n", "a: !foo x\nb: &z 1\nc: &z 2\n",
    "a: !!omap [b: 1, c]\n", "a: !!map [b]\n", "a: !!seq {b: 1}\n", "a: !!int x\n", "a: !!float x\n",
    "a: !!set {<<: {b: 1}}\n", "a: !!int [1]\n", "a: 0x_\n", "0x_: a\n",
    "a: \x07\n", "a: b\x00c\n",
]

DOCUMENTS += [f"k: {s}\n" for s in SCALARS + QUOTED]
DOCUMENTS += [f"{s}: v\n" for s in SCALARS + QUOTED]
DOCUMENTS += ["- " + s + "\n" for s in SCALARS + QUOTED]
DOCUMENTS += ["[" + ", ".join(SCALARS) + "]\n", "{" + ", ".join(f"{s}: {s}" for s in SCALARS[:40]) + "}\n"]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_same_as_the_former_loader(text: str, flavour: type) -> None:
    value = check_same_as_old(text, flavour)
    if value is not None and not _has_alias(text, flavour):
        check_same_as_safeloader(text, value, _safe(flavour))


@pytest.mark.parametrize("text", [d for d in DOCUMENTS if _composes(d, SAFE)])
def test_values_and_positions_as_safeloader(text: str) -> None:
    kind, value = _outcome(load_text, text, "f.yaml")
    if kind == "ok":
        check_same_as_safeloader(text, value)


def test_values_the_yaml_1_1_way() -> None:
    doc = load_text("a: 010\nb: 0x1F\nc: 1_000\nd: 190:20:30\ne: 1.10\nf: on\ng: ~\nh:\ni: '010'\nj: 2001-12-14\n"
                    "k: .inf\nl: -.5e+3\nm: 3600\nn: 한국어\no: !!str 12\np: !!binary aGk=\n", "f")
    assert doc == {"a": 8, "b": 31, "c": 1000, "d": 685230, "e": 1.1, "f": True, "g": None, "h": None,
                   "i": "010", "j": datetime.date(2001, 12, 14), "k": math.inf, "l": "-.5e+3", "m": 3600,
                   "n": "한국어", "o": "12", "p": b"hi"}
    assert [type(doc[k]) for k in "amfg"] == [int, int, bool, type(None)]


def test_scalar_keys_stay_as_written() -> None:
    doc = load_text("on: 1\n1.10: 2\n010: 3\n~: 4\n3600: 5\n2001-12-14: 6\n'yes': 7\n? ''\n: 8\n", "f")
    assert list(doc) == ["on", "1.10", "010", "~", "3600", "2001-12-14", "yes", ""]


def test_positions() -> None:
    doc = load_text("zone: x\nrecords:\n  www:\n    type: A\n    values:\n    - 10.0.0.1\n    - [a, b]\n", "f")
    assert doc.pos == Pos(1, 1)
    assert doc.key_pos["records"] == Pos(2, 1)
    assert doc.value_pos["records"] == Pos(3, 3) == doc["records"].pos
    www = doc["records"]["www"]
    assert www.key_pos["type"] == Pos(4, 5) and www.value_pos["type"] == Pos(4, 11)
    assert www["values"].item_pos == [Pos(6, 7), Pos(7, 7)]
    assert www["values"][1].pos == Pos(7, 7) and www["values"][1].item_pos == [Pos(7, 8), Pos(7, 11)]
    assert www.where("type") == Pos(4, 11) and www.where("nope") == www.pos == Pos(4, 5)
    assert www["values"].where(1) == Pos(7, 7) and www["values"].where(5) == www["values"].pos == Pos(6, 5)
    assert position(doc, ["records", "www", "values", 1, 0]) == Pos(7, 8)
    assert position(doc, ["records", "nope", "x"]) == Pos(3, 3)
    assert position("scalar", ["x"]) == Pos(1, 1)


def test_pos_is_a_small_value() -> None:
    p = load_text("a: 1\n", "f").value_pos["a"]
    assert (p.line, p.col) == (1, 4) and p == Pos(1, 4) and hash(p) == hash(Pos(1, 4))
    assert {p: 1}[Pos(1, 4)] == 1 and repr(p) == "Pos(line=1, col=4)"
    assert Pos(line=2, col=3).line == 2


ERRORS = [
    ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first at line 1)"),
    ("x:\n  on: 1\n  on: 2\n", 3, 3, "duplicate key 'on' (first at line 2)"),
    ("x: {1.10: a, 1.10: b}\n", 1, 14, "duplicate key '1.10' (first at line 1)"),
    ("a: 1\n<<: {b: 2}\n", 1, 1, MERGE_MSG),
    ("a:\n  b: 1\n  <<: {}\n", 2, 3, MERGE_MSG),
    ("a: &x 1\nb: *x\n", 2, 4, ALIAS_MSG),
    ("- &x [1]\n- *x\n", 2, 3, ALIAS_MSG),
    ("x: &a foo\n*a : bar\n", 2, 1, ALIAS_MSG),
    ("&a [*a]\n", 1, 5, ALIAS_MSG),
    ("a: *x\n", 1, 4, "YAML syntax error: found undefined alias"),
    ("a: !foo 1\n", 1, 4, "YAML syntax error: could not determine a constructor for the tag '!foo'"),
    ("a: !!python/name:os.system x\n", 1, 4,
     "YAML syntax error: could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'"),
    ("? [a]\n: 1\n", 1, 3, "YAML syntax error: mapping keys must be scalars"),
    ("a: 1\n---\nb: 2\n", 2, 1,
     "YAML syntax error: but found another document (expected a single document in the stream at line 1)"),
    ("a: [1, 2\n", 1, 8, "YAML syntax error: did not find expected ',' or ']' (reached the end of the file: is a "
     "bracket or quote left open?) (while parsing a flow sequence at line 1)"),
    ("a: b: c\n", 1, 5, "YAML syntax error: mapping values are not allowed in this context"),
    ("a: 1\na: 2\nb: [\n", 3, 4, "YAML syntax error: did not find expected node content (reached the end of the "
     "file: is a bracket or quote left open?)"),
    ("a: !foo x\nb: 1\nb: 2\n", 1, 4, "YAML syntax error: could not determine a constructor for the tag '!foo'"),
    ("a: {x: 1, x: 2}\n<<: {}\n", 1, 1, MERGE_MSG),
]


@pytest.mark.skipif(not HAVE_LIBYAML, reason="messages and positions are libyaml's")
@pytest.mark.parametrize(("text", "line", "col", "message"), ERRORS)
def test_errors(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(YamlError) as info:
        load_text(text, "zone.yaml")
    assert (info.value.file, info.value.line, info.value.col, info.value.message) == ("zone.yaml", line, col, message)


def test_deep_nesting_loads_and_gc_is_back_on() -> None:
    import gc

    node = load_text("[" * 500 + "]" * 500, "f")  # the old loader's recursion gave up here (RecursionError)
    for _ in range(499):
        node = node[0]
    assert node == [] and type(node) is YList
    with pytest.raises(YamlError):
        load_text("a: 1\na: 2\n", "f")
    assert gc.isenabled()
    gc.disable()
    try:
        load_text("a: 1\n", "f")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "z.yaml"
    path.write_bytes("\ufeffa: 한\n".encode())
    assert load_file(path) == {"a": "한"} and load_file(path).pos == Pos(1, 1)
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(YamlError, match=r"z.yaml:2:1: file is not valid UTF-8"):
        load_file(path, "z.yaml")
    with pytest.raises(YamlError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_big_zone_file() -> None:
    lines = ["zone: bench.kr", "records:"]
    for i in range(300):
        lines += [f"  h{i}:", "    type: A", "    ttl: 3600", "    values:", f"    - 10.0.{i // 256}.{i % 256}"]
        lines += [f"  t{i}:", "    type: TXT", f"    values: ['{'x' * 300} {i}']"]
    text = "\n".join(lines) + "\n"
    doc = check_same_as_old(text, _OLD_C or _OLD_PY)
    assert len(doc["records"]) == 600 and doc["records"]["h299"]["values"] == ["10.0.1.43"]


# -- generated documents ---------------------------------------------------------------------------------

_PLAIN_SAFE = st.sampled_from(SCALARS)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\t:#-"),
                max_size=12)


def _quote(s: str, style: str) -> str:
    if style == "'":
        return "'" + s.replace("'", "''") + "'"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


@st.composite
def _scalar(draw: st.DrawFn) -> str:
    style = draw(st.sampled_from(["plain", "plain", "plain", "'", '"', "tag"]))
    if style == "plain":
        return draw(_PLAIN_SAFE)
    if style == "tag":
        tag = draw(st.sampled_from(["!!str", "!!int", "!!float", "!!bool", "!!null", "!", "!!timestamp"]))
        return f"{tag} {draw(_PLAIN_SAFE)}"
    return _quote(draw(_PLAIN_SAFE | _TEXT), style)


def _flow(draw: st.DrawFn, depth: int) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "list", "map"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return draw(_scalar())
    items = draw(st.lists(st.just(None), max_size=3))
    if kind == "list":
        return "[" + ", ".join(_flow(draw, depth + 1) for _ in items) + "]"
    return "{" + ", ".join(f"{draw(_scalar())}: {_flow(draw, depth + 1)}" for _ in items) + "}"


def _block(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    pad = " " * indent
    kind = draw(st.sampled_from(["map", "list"]))
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        head = f"{pad}{draw(_scalar())}:" if kind == "map" else f"{pad}-"
        child = draw(st.sampled_from(["scalar", "flow", "block", "literal", "empty"] if depth < 3 else ["scalar"]))
        if child == "scalar":
            lines.append(f"{head} {draw(_scalar())}")
        elif child == "flow":
            lines.append(f"{head} {_flow(draw, depth + 1)}")
        elif child == "literal":
            lines.append(f"{head} {draw(st.sampled_from(['|', '>', '|-', '>+']))}")
            lines += [f"{pad}  {draw(_PLAIN_SAFE)}" for _ in range(draw(st.integers(1, 2)))]
        elif child == "empty":
            lines.append(head)
        else:
            lines.append(head)
            lines += _block(draw, indent + 2, depth + 1)
    return lines


@st.composite
def documents(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        text = "\n".join(_block(draw, 0, 0)) + "\n"
    else:
        text = _flow(draw, 0) + "\n"
    if draw(st.integers(0, 9)) == 0:  # now and then a stray edit: a duplicate, a bracket, a second document
        text += draw(st.sampled_from(["---\nx: 1\n", "[", "k: 1\nk: 2\n", "'", "<<: {}\n", "\t", " - x\n"]))
    return text


@pytest.mark.parametrize("flavour", LOADERS, indirect=True)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(text=documents())
def test_generated_documents(text: str, flavour: type) -> None:
    value = check_same_as_old(text, flavour)
    if value is not None:
        check_same_as_safeloader(text, value, _safe(flavour))


@pytest.mark.parametrize("flavour", LOADERS, indirect=True)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from([*" \n-:?,[]{}#&*!|>'\"%@`a0o1.~<=\t", "on", "010", "!!str ", "&a ", "*a",
                                      "- ", ": ", "  "]), max_size=30).map("".join))
def test_random_text(text: str, flavour: type) -> None:
    check_same_as_old(text, flavour)


# Documents full of construction errors (duplicate keys, merge keys, unknown tags, collections as keys,
# tagged collections): the first error the former loader met is the one to report, and a syntax error
# anywhere wins over all of them.
_KEYS = ["a", "b", "<<", "on", "true", "!foo k", "'a'", "!!merge m", "=", "1.10", "1.1", "!!set {q}", "[x]"]
_VALUES = ["1", "!foo x", "=", "!!int x", "<<", "x", "!!omap [a: 1]", "!!set {<<: {z: 1}}", "!!map [a]", "0x_", "~",
           "!!omap [{a: 1, a: 2}]", "&n 1"]


def _messy_node(draw: st.DrawFn, depth: int, indent: int) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "flow map", "flow list", "map", "list"] if depth < 3
                                else ["scalar"]))
    if kind == "scalar":
        return " " + draw(st.sampled_from(_VALUES))
    if kind == "flow map":
        pairs = draw(st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_VALUES)), max_size=4))
        return " {" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if kind == "flow list":
        items = draw(st.lists(st.sampled_from([*_VALUES, "{a: 1, a: 2}", "{<<: 1}", "[!foo y]"]), max_size=4))
        return " [" + ", ".join(items) + "]"
    return "\n" + _messy_block(draw, depth + 1, indent + 2, kind == "map")


def _messy_block(draw: st.DrawFn, depth: int, indent: int, is_map: bool) -> str:
    pad = " " * indent
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        if not is_map:
            lines.append(f"{pad}-{_messy_node(draw, depth, indent)}")
            continue
        key = draw(st.sampled_from(_KEYS))
        body = _messy_node(draw, depth, indent)
        lines.append(f"{pad}? {key}\n{pad}:{body}" if key.startswith("[") else f"{pad}{key}:{body}")
    return "\n".join(lines)


@st.composite
def messy_documents(draw: st.DrawFn) -> str:
    text = _messy_block(draw, 0, 0, draw(st.booleans())) + "\n"
    if draw(st.integers(0, 5)) == 0:
        text += draw(st.sampled_from(["---\n", "[\n", "x: 'y\n", "&q a: 1\n&q b: 2\n", "z: *nope\n", "&n z: 1\n"]))
    return text


@pytest.mark.parametrize("flavour", LOADERS, indirect=True)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(text=messy_documents())
def test_generated_errors(text: str, flavour: type) -> None:
    check_same_as_old(text, flavour)
