"""YAML reading that remembers where every key and item came from.

PyYAML's safe loader forgets positions and silently keeps the last of two duplicate keys. Desired
state needs both: errors must name `file:line:col`, and a record declared twice is a mistake.
Mappings load as `YMap` (a dict that knows each key's and value's position), sequences as `YList`.
Only the safe subset of YAML is accepted (no tags that construct objects): values are data.

The loader reads libyaml's event stream and builds `YMap`/`YList`/values directly: PyYAML's composer
(a Python resolver call and a `Node` per scalar) and its constructor cost ~8× the parse on large
files. The result is what `yaml.load(text, Loader=SafeLoader)` would give (YAML 1.1 implicit types,
the same constructors for explicit tags), under this module's rules (scalar keys kept as written
text; no duplicate keys, aliases or merge keys). Rare cases (tags on collections such as `!!set`, explicit tags
and implicit types other than the common str/int) go through PyYAML's own resolver and constructor.
Errors are those the old compose-then-construct loader raised: a syntax error anywhere in the file wins
over a construction error (duplicate key, unknown tag, ...), which is kept until the stream is read.
tests/core/test_yamlsource.py holds the old loader and checks the two agree.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode


class Pos(NamedTuple):
    line: int  # 1-based
    col: int  # 1-based


_new = tuple.__new__  # Pos(l, c) through NamedTuple's Python __new__ costs twice as much


def _pos(mark: Any) -> Pos:
    return _new(Pos, (mark.line + 1, mark.column + 1))


class YMap(dict[Any, Any]):
    __slots__ = ("key_pos", "pos", "value_pos")
    pos: Pos
    key_pos: dict[Any, Pos]
    value_pos: dict[Any, Pos]

    def where(self, key: Any) -> Pos:
        return self.value_pos.get(key) or self.key_pos.get(key) or self.pos


class YList(list[Any]):
    __slots__ = ("item_pos", "pos")
    pos: Pos
    item_pos: list[Pos]

    def where(self, index: int) -> Pos:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


_ALIAS_MSG = "YAML aliases (*name) and merge keys (<<) are not allowed in desired state; write the value out"
_MERGE_MSG = "YAML merge keys (<<) are not allowed in desired state; write the values out"
_STR = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_SEQ = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_MERGE = "tag:yaml.org,2002:merge"
_DIGITS = "0123456789"
# The implicit resolvers for a leading digit as PyYAML ships them; the int fast path relies on them.
_STOCK_DIGIT_RESOLVERS = {d: list(yaml.resolver.Resolver.yaml_implicit_resolvers.get(d, ())) for d in _DIGITS}


# -- the constructors for what goes through PyYAML's constructor (tagged collections such as `!!set`,
# `!!omap`: their nested plain mappings and sequences still load as YMap/YList with the same checks).

def _no_alias(loader: Any, node: yaml.Node) -> None:
    """A node met twice is an alias (the event reader refuses aliases before this; kept for safety)."""
    if node in loader.constructed_objects or node in loader._seen_nodes:
        raise ConstructorError(None, None, _ALIAS_MSG, node.start_mark)
    loader._seen_nodes.add(node)


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> YMap:
    if any(isinstance(k, yaml.ScalarNode) and k.tag == _MERGE for k, _ in node.value):
        raise ConstructorError(None, None, _MERGE_MSG, node.start_mark)
    out = YMap()
    out.pos = _pos(node.start_mark)
    out.key_pos, out.value_pos = {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key_node, yaml.ScalarNode) and not isinstance(key, str):
            key = key_node.value
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise ConstructorError(None, None, "mapping keys must be scalars", key_node.start_mark)
        if key in out:
            raise DuplicateKeyError("while reading a mapping", node.start_mark,
                                    f"duplicate key {key!r} (first at line {out.key_pos[key].line})",
                                    key_node.start_mark)
        _no_alias(loader, value_node)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key] = _pos(key_node.start_mark)
        out.value_pos[key] = _pos(value_node.start_mark)
    return out


def _construct_sequence(loader: Any, node: yaml.SequenceNode) -> YList:
    for child in node.value:
        _no_alias(loader, child)
    out = YList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos = _pos(node.start_mark)
    out.item_pos = [_pos(child.start_mark) for child in node.value]
    return out


def _make_loader(base: type) -> type:
    """The event source plus PyYAML's safe resolver and constructor, on libyaml or pure Python."""

    class Loader(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._seen_nodes: set[yaml.Node] = set()

    Loader.add_constructor(_MAP, _construct_mapping)
    Loader.add_constructor(_SEQ, _construct_sequence)
    return Loader


# libyaml's parser when PyYAML was built with it (about 5× faster on large files); same safe constructors.
_Loader: type = _make_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class _Defer(Exception):
    """A construction error: kept while the rest of the stream is read (a syntax error there wins).
    `entry`: the error belongs to the current collection's own checks, which PyYAML ran on entering it
    (merge keys of a mapping, aliases among a sequence's items). `done`: the offending node is complete."""

    def __init__(self, error: BaseException, entry: bool = False, done: bool = True) -> None:
        self.error, self.entry, self.done = error, entry, done


class _Always:
    def __contains__(self, item: object) -> bool:
        return True


class _Source:
    """What the slow paths share: the loader, the anchors met so far, the cache of plain scalars."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.anchors: dict[str, Any] = {}  # name -> start mark of the anchored node
        self.cache: dict[str, Any] = {}  # plain scalar text -> value (it depends on the text alone)
        self.pure = isinstance(loader, yaml.composer.Composer)  # PyYAML's own messages name the anchor

    def anchor(self, name: str, mark: Any) -> None:
        first = self.anchors.get(name)
        if first is not None:
            what = f"found duplicate anchor {name!r}; first occurrence" if self.pure \
                else "found duplicate anchor; first occurrence"
            raise yaml.composer.ComposerError(what, first, "second occurrence", mark)
        self.anchors[name] = mark

    def alias(self, event: Any) -> ConstructorError:
        """The error for an alias, raised here if it names no anchor (as PyYAML's composer does). Desired
        state never needs aliases, and a few hundred bytes of nested aliases ("billion laughs") expand
        into gigabytes downstream: every alias is refused, at the alias."""
        if event.anchor not in self.anchors:
            what = f"found undefined alias {event.anchor!r}" if self.pure else "found undefined alias"
            raise yaml.composer.ComposerError(None, None, what, event.start_mark)
        return ConstructorError(None, None, _ALIAS_MSG, event.start_mark)

    def scalar(self, event: Any, is_key: bool, merge_mark: Any) -> Any:
        """Value of a scalar outside the fast paths: resolver and constructor as yaml.SafeLoader."""
        value, tag = event.value, event.tag
        cacheable = False
        if tag is None or tag == "!":
            cacheable = event.implicit[0]
            if cacheable and not self.loader.yaml_path_resolvers:  # Resolver.resolve, minus a call
                table = self.loader.yaml_implicit_resolvers
                tag = _STR
                for candidate, regexp in [*table.get(value[:1], ()), *table.get(None, ())]:
                    if regexp.match(value):
                        tag = candidate
                        break
            else:
                tag = self.loader.resolve(ScalarNode, value, event.implicit)
        if is_key and tag == _MERGE:
            raise _Defer(ConstructorError(None, None, _MERGE_MSG, merge_mark), entry=True)
        if tag == _STR:
            result = value
        else:
            node = ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
            try:
                result = self.loader.construct_object(node, deep=True)
            except Exception as exc:
                raise _Defer(exc) from None
        if cacheable:
            self.cache[value] = result
        return result

    def subtree(self, event: Any, root: bool) -> Any:
        """A collection with an explicit tag (`!!set`, `!!omap`, ...): compose its nodes from the events
        and let PyYAML's constructor build it, as before."""
        errors: list[BaseException] = []
        node = self._node(event, errors)
        if errors:
            raise _Defer(errors[0])
        try:
            if root:
                return self.loader.construct_document(node)
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:
            raise _Defer(exc) from None

    def _node(self, event: Any, errors: list[BaseException]) -> yaml.Node:
        get, cls, loader = self.loader.get_event, event.__class__, self.loader
        if cls is AliasEvent:
            errors.append(self.alias(event))
            return ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        if event.anchor is not None:
            self.anchor(event.anchor, event.start_mark)
        tag = event.tag
        if cls is ScalarEvent:
            if tag is None or tag == "!":
                tag = loader.resolve(ScalarNode, event.value, event.implicit)
            return ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        if cls is SequenceStartEvent:
            if tag is None or tag == "!":
                tag = loader.resolve(SequenceNode, None, event.implicit)
            seq = SequenceNode(tag, [], event.start_mark, None, event.flow_style)
            while (child := get()).__class__ is not SequenceEndEvent:
                seq.value.append(self._node(child, errors))
            seq.end_mark = child.end_mark
            return seq
        if tag is None or tag == "!":
            tag = loader.resolve(MappingNode, None, event.implicit)
        mapping = MappingNode(tag, [], event.start_mark, None, event.flow_style)
        while (child := get()).__class__ is not MappingEndEvent:
            key = self._node(child, errors)
            mapping.value.append((key, self._node(get(), errors)))
        mapping.end_mark = child.end_mark
        return mapping


def _load(loader: Any) -> Any:
    src = _Source(loader)
    get = loader.get_event
    table = loader.yaml_implicit_resolvers
    cache, anchor, scalar = src.cache, src.anchor, src.scalar
    # Fast paths: a plain scalar whose first character starts no implicit type is a str; a plain decimal
    # without a leading zero is an int. Both need PyYAML's stock resolver table (no catch-all resolvers).
    first: Any = table if None not in table else _Always()
    ints = None not in table and all(table.get(d) == _STOCK_DIGIT_RESOLVERS[d] for d in _DIGITS)
    new_tuple, pos_type, ymap, ylist = _new, Pos, YMap, YList
    scalar_event, map_start, seq_start, map_end, seq_end = (ScalarEvent, MappingStartEvent, SequenceStartEvent,
                                                            MappingEndEvent, SequenceEndEvent)
    # What the node being read is to the collection around it (and, on the stack, to each saved parent):
    # DOC the document's root, KEY/VALUE a mapping's key/value, ITEM a sequence's item; KEYNODE marks a
    # saved mapping whose open child is a key (a collection as a key: refused once it is read).
    DOC, KEY, VALUE, ITEM, KEYNODE = 0, 1, 2, 3, 4

    get()  # stream start
    if get().__class__ is StreamEndEvent:  # document start, or the end of an empty stream
        return None
    root_mark = loader.peek_event().start_mark
    root: Any = None
    stack: list[tuple[Any, ...]] = []
    mode, cur, kp, vp, key, kpos, smark = DOC, None, None, None, None, None, None
    try:
        while True:
            ev = get()
            cls = ev.__class__
            if cls is scalar_event:
                if ev.anchor is not None:
                    anchor(ev.anchor, ev.start_mark)
                value = ev.value
                if ev.tag is not None:
                    v = scalar(ev, mode == KEY, smark)
                elif not ev.implicit[0]:  # quoted or block scalar
                    v = value
                elif value[:1] not in first:
                    v = value
                elif ints and value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
                    v = int(value)
                else:
                    v = cache.get(value, cache)
                    if v is cache:
                        v = scalar(ev, mode == KEY, smark)
                m = ev.start_mark
                p = new_tuple(pos_type, (m.line + 1, m.column + 1))
                if mode == KEY and not isinstance(v, str):
                    v = value  # keep names as written: `on`, `1.10`, `010` stay text
            elif cls is map_start or cls is seq_start:
                if ev.anchor is not None:
                    anchor(ev.anchor, ev.start_mark)
                tag = ev.tag
                is_map = cls is map_start
                m = ev.start_mark
                p = new_tuple(pos_type, (m.line + 1, m.column + 1))
                if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
                    # `!!set`, `!!omap`, ...: built whole by PyYAML, then placed like a scalar (below)
                    v = src.subtree(ev, mode == DOC)
                    if mode == KEY and not isinstance(v, str | int | float | bool) and v is not None:
                        raise _Defer(ConstructorError(None, None, "mapping keys must be scalars", m))
                else:
                    if is_map:
                        new: Any = ymap()
                        new.pos = p
                        new_kp = new.key_pos = {}
                        new_vp = new.value_pos = {}
                    else:
                        new = ylist()
                        new.pos = p
                        new_kp = new.item_pos = []
                        new_vp = None
                    if mode == VALUE:
                        cur[key] = new
                        kp[key] = kpos
                        vp[key] = p
                        stack.append((KEY, cur, kp, vp, key, kpos, smark))
                    elif mode == ITEM:
                        cur.append(new)
                        kp.append(p)
                        stack.append((ITEM, cur, kp, vp, key, kpos, smark))
                    elif mode == KEY:
                        stack.append((KEYNODE, cur, kp, vp, key, kpos, smark))
                    else:
                        root = new
                        stack.append((DOC, None, None, None, None, None, None))
                    mode, cur, kp, vp, smark = (KEY if is_map else ITEM), new, new_kp, new_vp, m
                    continue
            elif cls is map_end or cls is seq_end:
                key_mark = smark
                mode, cur, kp, vp, key, kpos, smark = stack.pop()
                if mode == KEYNODE:
                    mode = KEY
                    raise _Defer(ConstructorError(None, None, "mapping keys must be scalars", key_mark))
                if mode == DOC:
                    break
                continue
            elif cls is AliasEvent:
                raise _Defer(src.alias(ev), entry=mode == ITEM)
            else:  # pragma: no cover - libyaml sends only node events inside a document
                raise yaml.composer.ComposerError(None, None, f"unexpected {cls.__name__}", ev.start_mark)
            # A finished node (a scalar or a tagged collection) takes its place in the open collection.
            if mode == KEY:
                if v in cur:
                    raise _Defer(DuplicateKeyError("while reading a mapping", smark,
                                                   f"duplicate key {v!r} (first at line {kp[v].line})", m))
                key, kpos, mode = v, p, VALUE
            elif mode == VALUE:
                cur[key] = v
                kp[key] = kpos
                vp[key] = p
                mode = KEY
            elif mode == ITEM:
                cur.append(v)
                kp.append(p)
            else:
                root = v
                break
    except _Defer as deferred:
        # Where the reader stands: the open collections (outermost first), each with what its next node is.
        frames: list[list[Any]] = [[saved[0] != ITEM, saved[0] == KEY, saved[6]] for saved in stack[1:]]
        if mode != DOC:
            next_is_key = mode == KEY
            if mode != ITEM and deferred.done:
                next_is_key = not next_is_key
            frames.append([mode != ITEM, next_is_key, smark])
        raise _drain(src, frames, deferred, root_mark) from None
    _end_of_document(src, root_mark)
    return root


def _end_of_document(src: _Source, root_mark: Any) -> None:
    get = src.loader.get_event
    get()  # document end
    ev = get()
    if ev.__class__ is not StreamEndEvent:
        raise yaml.composer.ComposerError("expected a single document in the stream", root_mark,
                                          "but found another document", ev.start_mark)


def _drain(src: _Source, frames: list[list[Any]], deferred: _Defer, root_mark: Any) -> BaseException:
    """Read the rest of the stream after a construction error, as PyYAML composed the whole document
    before constructing it: a syntax or composer error raises instead. Returns the error to raise: the
    one met, or a check PyYAML made earlier, on entering a collection still open then (a merge key in
    an enclosing mapping, an alias among an enclosing sequence's items)."""
    error = deferred.error
    rank = len(frames) - 1 if deferred.entry else len(frames)  # frame whose entry check `error` is
    ancestors = len(frames)  # frames[:ancestors] have stayed open since `error`
    get, resolve = src.loader.get_event, src.loader.resolve
    while frames:
        ev = get()
        cls = ev.__class__
        if cls is MappingEndEvent or cls is SequenceEndEvent:
            frames.pop()
            ancestors = min(ancestors, len(frames))
            continue
        top = frames[-1]
        index = len(frames) - 1
        is_key = top[0] and top[1]
        if top[0]:
            top[1] = not top[1]
        if cls is AliasEvent:
            alias_error = src.alias(ev)
            if not top[0] and index < ancestors and index < rank:
                error, rank = alias_error, index
            continue
        if ev.anchor is not None:
            src.anchor(ev.anchor, ev.start_mark)
        if cls is ScalarEvent:
            if is_key and index < ancestors and index < rank:
                tag = ev.tag
                if tag is None or tag == "!":
                    tag = resolve(ScalarNode, ev.value, ev.implicit)
                if tag == _MERGE:
                    error, rank = ConstructorError(None, None, _MERGE_MSG, top[2]), index
        else:
            frames.append([cls is MappingStartEvent, True, ev.start_mark])
    _end_of_document(src, root_mark)
    return error


class YamlError(Exception):
    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        self.file, self.line, self.col, self.message = file, line, col, message
        super().__init__(f"{file}:{line}:{col}: {message}")


def load_text(text: str, file: str) -> Any:
    # Loading allocates ~2 objects per line that all stay alive: the cyclic GC's passes over them are
    # wasted work (~10% of the load), so it pauses (re-enabled after, and only if it was on).
    collect = gc.isenabled()
    try:
        loader = _Loader(text)
        if collect:
            gc.disable()
        try:
            return _load(loader)
        finally:
            if collect:
                gc.enable()
            loader.dispose()
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
