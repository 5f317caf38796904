"""YAML reading that remembers where every key and item came from.

PyYAML's safe loader forgets positions and silently keeps the last of two duplicate keys. Desired
state needs both: errors must name `file:line:col`, and a record declared twice is a mistake.
Mappings load as `YMap` (a dict that knows each key's and value's position), sequences as `YList`.
Only the safe subset of YAML is accepted (no tags that construct objects): values are data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    col: int  # 1-based


def _pos(mark: yaml.Mark) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


class YMap(dict[Any, Any]):
    pos: Pos
    key_pos: dict[Any, Pos]
    value_pos: dict[Any, Pos]

    def where(self, key: Any) -> Pos:
        return self.value_pos.get(key) or self.key_pos.get(key) or self.pos


class YList(list[Any]):
    pos: Pos
    item_pos: list[Pos]

    def where(self, index: int) -> Pos:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


# libyaml's parser when PyYAML was built with it (about 5× faster on large files); same safe constructors.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._seen_nodes: set[yaml.Node] = set()


def _no_alias(loader: _Loader, node: yaml.Node) -> None:
    """Refuse YAML anchors/aliases: a node met twice is an alias. Desired state never needs them, and
    a few hundred bytes of nested aliases ("billion laughs") expand into gigabytes downstream."""
    if node in loader.constructed_objects or node in loader._seen_nodes:
        raise yaml.constructor.ConstructorError(None, None, "YAML aliases (*name) and merge keys (<<) are not "
                                                "allowed in desired state; write the value out", node.start_mark)
    loader._seen_nodes.add(node)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
    if any(isinstance(k, yaml.ScalarNode) and k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
        raise yaml.constructor.ConstructorError(None, None, "YAML merge keys (<<) are not allowed in desired "
                                                "state; write the values out", node.start_mark)
    out = YMap()
    out.pos = _pos(node.start_mark)
    out.key_pos, out.value_pos = {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key_node, yaml.ScalarNode) and not isinstance(key, str):
            # Every key in these files is a name: keep the text as written. YAML 1.1 would turn a
            # record named `on` into True, `1.10` (a reverse-zone name) into 1.1 and `010` into 8.
            key = key_node.value
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "mapping keys must be scalars",
                                                    key_node.start_mark)
        if key in out:
            raise DuplicateKeyError("while reading a mapping", node.start_mark,
                                    f"duplicate key {key!r} (first at line {out.key_pos[key].line})",
                                    key_node.start_mark)
        _no_alias(loader, value_node)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key] = _pos(key_node.start_mark)
        out.value_pos[key] = _pos(value_node.start_mark)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
    for child in node.value:
        _no_alias(loader, child)
    out = YList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos = _pos(node.start_mark)
    out.item_pos = [_pos(child.start_mark) for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class YamlError(Exception):
    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        self.file, self.line, self.col, self.message = file, line, col, message
        super().__init__(f"{file}:{line}:{col}: {message}")


def load_text(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if isinstance(exc, DuplicateKeyError):
            raise YamlError(file, line, col, problem) from None
        last = max(1, len(text.splitlines()))
        if line > last:  # libyaml reports an unclosed bracket at the end of input, past the last line
            line, col = last, max(1, len(text.splitlines()[-1]) if text.splitlines() else 1)
            problem += " (reached the end of the file: is a bracket or quote left open?)"
        if exc.context and exc.context_mark and exc.context_mark is not mark and exc.context_mark.line < last:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise YamlError(file, line, col, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(file, 1, 1, str(exc)) from None


def load_file(path: Path, display: str | None = None) -> Any:
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlError(name, 1, 1, f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(name, line, 1, "file is not valid UTF-8") from None
    return load_text(text.removeprefix("\ufeff"), name)


def position(doc: Any, path: list[Any] | tuple[Any, ...]) -> Pos:
    """Best position for a JSON-path into a loaded document (deepest node that exists)."""
    node, best = doc, getattr(doc, "pos", Pos(1, 1))
    for part in path:
        if isinstance(node, YMap) and part in node:
            best = node.where(part)
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and part < len(node):
            best = node.where(part)
            node = node[part]
        else:
            break
    return best
