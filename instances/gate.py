"""The input gate: every file optim reads passes here before anything is solved.

One place states what is accepted and turns every mistake into one
:class:`~optim.errors.InstanceError` that names the file, the line as the planner sees it in
that file (header = line 1, first data row = line 2; in JSON and YAML the line of the
field), the field, the value as written and what is allowed.

Stated limits (module constants, each checked before the input is used):

================================ ==========================================================
limit                            value
================================ ==========================================================
JSON / YAML document size        :data:`MAX_DOCUMENT_BYTES` (256 MiB)
CSV file size                    :data:`MAX_CSV_BYTES` (4 GiB)
nesting depth of a document      :data:`MAX_DEPTH` (64 levels)
YAML aliases                     :data:`YAML_MAX_ALIASES` (1,000 uses of ``*anchor``) and
                                 :data:`YAML_MAX_NODES` (10^6 values after expansion)
magnitude of a number            :data:`MAX_MAGNITUDE` (1e12; NaN and infinity refused)
memory a solve may need          :func:`memory_limit` (8 GiB, env
                                 ``OPTIM_MEMORY_LIMIT_GB``), estimated from the input;
                                 one safety-stock stage's solver arrays at most
                                 :data:`STAGE_MEMORY_BYTES` (2 GiB)
================================ ==========================================================

JSON objects with a repeated key are refused (``json`` would silently keep the last value);
YAML is read with the safe loader, repeated keys refused too. Numbers are strict: a string
(``"-3"``) or a boolean (``true``) where a number belongs is an error, never coerced.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import gc
import io
import json
import math
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from optim.errors import MAGNITUDE, SYNTAX, InstanceError

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_MAGNITUDE",
    "MEMORY_LIMIT_BYTES",
    "NUMERAL",
    "STAGE_MEMORY_BYTES",
    "YAML_MAX_ALIASES",
    "YAML_MAX_NODES",
    "check_number",
    "check_output",
    "check_path",
    "check_text",
    "csv_record",
    "dump_yaml",
    "field_line",
    "iso_day",
    "json_line",
    "load_document",
    "located",
    "memory_inputs",
    "memory_limit",
    "parse_json",
    "parse_yaml",
    "read_csv_chunks",
    "read_csv_text",
    "read_text",
    "shown",
    "stage_array_bytes",
    "text_hint",
]

MAX_DOCUMENT_BYTES = 256 * 2**20
MAX_CSV_BYTES = 4 * 2**30
MAX_DEPTH = 64
YAML_MAX_ALIASES = 1_000
YAML_MAX_NODES = 1_000_000
MAX_MAGNITUDE = 1e12
MEMORY_LIMIT_BYTES = 8 * 2**30
"""Bytes a solve may need unless ``$OPTIM_MEMORY_LIMIT_GB`` says otherwise
(:func:`memory_limit`)."""
ENV_MEMORY = "OPTIM_MEMORY_LIMIT_GB"
MAX_MEMORY_GIB = 2**20
STAGE_MEMORY_BYTES = 2 * 2**30
"""Bytes one stage's safety-stock solver arrays may take (the tree DP's (S, SI) array and its
copies): the solve refuses more (:func:`optim.models.safety_stock.data.check_size`), so the
gate does too, before the stage tables are built."""


def stage_array_bytes(s_max: Any, si_max: Any) -> Any:
    """Bytes of a stage's tree-DP arrays: the :math:`(\\bar S_j + 1)(\\bar{SI}_j + 1)`
    array of 8-byte floats and about four temporaries of its size (numbers or numpy arrays
    of the longest outbound and inbound service times). The one estimate of the gate and of
    the solve (:func:`optim.models.safety_stock.data.check_size`)."""
    return (s_max + 1.0) * (si_max + 1.0) * 8 * 5


def lead_time_table_bytes(longest: Any, points: Any) -> Any:
    """Bytes of the stage table of a random or fractional lead time: :math:`(L_j + 1) \\times`
    points 8-byte floats (``points`` the lead-time law's values, :attr:`~optim.instances.
    safety_stock.Stage.table_points`) and about ten temporaries of its size, :math:`L_j` the
    longest replenishment time. The one estimate of the gate and of the solve
    (:func:`optim.models.safety_stock.data.check_size`)."""
    return (longest + 1.0) * points * 8 * 10


def shown(value: Any) -> str:
    """A value as the planner wrote it: text in quotes, numbers plain (never
    ``np.float64(nan)``), an empty cell as ``(empty)``."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return "(empty)" if value == "" else repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "(empty)"
        return repr(value) if not value.is_integer() or abs(value) >= 1e16 else str(int(value))
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(value)


NUMERAL = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
"""A number as a planner writes it (``12``, ``-3.5``, ``1e3``; not ``1_000``, ``５`` or
``0x10``, which Python's ``float`` and ``int`` also take)."""


def text_hint(value: str) -> str:
    """What to say of text where a number belongs: a numeral was quoted (``"-3"``), anything
    else (``yes``, ``1:30``, ``ten``) is simply not a number."""
    if re.fullmatch(r"[-+]?0[0-9]+", value.strip()):
        return "a whole number with a leading zero, read as text (YAML 1.1 reads 010 as 8)"
    if NUMERAL.fullmatch(value.strip()):
        return "text in quotes; write the number without quotes"
    return "text, not a number"


ISO_DAY = re.compile(r"(19|20|21)[0-9][0-9]-[0-9][0-9]-[0-9][0-9]")
"""A date written ``YYYY-MM-DD`` (years 1900-2199: inside pandas' timestamp range), read
without pandas."""


def iso_day(value: Any) -> _dt.date | None:
    """``value`` as a day when it is a :class:`datetime.date` (not a datetime) or text
    ``YYYY-MM-DD`` of a real day within :data:`ISO_DAY`'s years; otherwise None (pandas
    reads the other spellings)."""
    if type(value) is _dt.date:
        return value if 1900 <= value.year <= 2199 else None
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def where(name: str, line: int | None = None, field: str | None = None) -> str:
    """``"orders.csv line 5, column location"`` / ``"plan.yaml line 7, field network"``."""
    out = str(name)
    if line is not None:
        out += f" line {line}"
    if field:
        kind = "column" if out.endswith(".csv") or ".csv line" in out else "field"
        out += f", {kind} {field}"
    return out


def refuse(
    name: str,
    what: str,
    *,
    line: int | None = None,
    field: str | None = None,
    allowed: str | None = None,
    kind: str | None = None,
) -> InstanceError:
    """One error: ``"{file} line {n}, column {field}: {what}; allowed: {allowed}."``"""
    text = f"{where(name, line, field)}: {what}"
    if allowed:
        text += f"; allowed: {allowed}"
    if not text.endswith("."):
        text += "."
    return InstanceError(text, field=field or name, kind=kind)


# ----------------------------------------------------------------------------- files
def _stat(path: Path, what: str, limit: int) -> None:
    if str(path) == "-":
        return
    if not path.exists():
        raise refuse(str(path), f"no such {what}", allowed="an existing file")
    if path.is_dir():
        raise refuse(str(path), f"is a folder, not a {what}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise refuse(str(path), f"cannot be read ({exc.strerror or exc})") from None
    if size > limit:
        raise refuse(
            str(path),
            f"is {size / 2**20:,.0f} MiB",
            allowed=f"at most {limit / 2**20:,.0f} MiB for a {what}",
        )


def read_bytes(path: str | Path, what: str = "file", limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of ``path`` (``-``: standard input), size-checked, read errors as
    :class:`InstanceError`."""
    path = Path(path)
    if str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise refuse("standard input", "it is too large", allowed=f"at most {limit} bytes")
        return data
    _stat(path, what, limit)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise refuse(str(path), f"cannot be read ({exc.strerror or exc})") from None


def decode(data: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped); a binary or non-UTF-8 file names the line of the first
    bad byte (a NUL byte: binary)."""
    _refuse_nul(data, name, 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc.start, name, 1) from None


def check_text_stream(path: Path, block_bytes: int = 1 << 22) -> None:
    """:func:`decode`'s checks on a file too large to hold (read block by block, as the
    split run streams it): no NUL byte and UTF-8 throughout; a refusal names the line."""
    with path.open("rb") as fh:
        _check_blocks(iter(lambda: fh.read(block_bytes), b""), str(path))


def check_text(data: bytes, name: str, block_bytes: int = 1 << 22) -> None:
    """:func:`decode`'s checks on bytes another reader parses (no text copy of them is
    made), with its messages: no NUL byte (the first, wherever the first bad byte is) and
    UTF-8 throughout; a refusal names the line."""
    _refuse_nul(data, name, 1)
    blocks = (data[k : k + block_bytes] for k in range(0, len(data), block_bytes))
    _check_blocks(blocks, name)


def _check_blocks(blocks: Iterator[bytes], name: str) -> None:
    """NUL bytes and UTF-8 block by block. A bad byte is named as :func:`decode` names it:
    also when it is a character's first byte held over from the block before (the line the
    block starts on: a character's bytes hold no line break), or a character cut off by the
    end of the text."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1  # the line the block starts on
    for block in blocks:
        _refuse_nul(block, name, line)
        pending = decoder.getstate()[0]  # a character's first bytes from the last block
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = exc.start - len(pending)
            if at < 0:
                raise _not_utf8(pending, exc.start, name, line) from None
            raise _not_utf8(block, at, name, line) from None
        line += block.count(b"\n")
    pending = decoder.getstate()[0]
    if pending:  # the text ends inside a character
        raise _not_utf8(pending, 0, name, line)


def _refuse_nul(data: bytes, name: str, line: int) -> None:
    """A NUL byte in ``data`` (which starts on ``line``): a binary file, refused at its line."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise refuse(
            name,
            "is a binary file, not text (a NUL byte)",
            line=line + data.count(b"\n", 0, nul),
            allowed="UTF-8 text",
        )


def _not_utf8(data: bytes, at: int, name: str, line: int) -> InstanceError:
    """The refusal of the byte ``data[at]`` that is not UTF-8 (``data`` starts on ``line``)."""
    return refuse(
        name,
        f"byte {data[at]:#04x} is not UTF-8 text",
        line=line + data.count(b"\n", 0, at),
        allowed="UTF-8 text (save the file as UTF-8)",
    )


def read_text(path: str | Path, what: str = "file", limit: int = MAX_DOCUMENT_BYTES) -> str:
    """UTF-8 text of ``path`` (``-``: standard input) through every file check."""
    name = "standard input" if str(path) == "-" else str(path)  # (binary stdin said "-:")
    return decode(read_bytes(path, what, limit), name)


# ----------------------------------------------------------------------------- JSON
class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _json_walk(text: str) -> Iterator[tuple[tuple[Any, ...], int, bool, str]]:
    """Yield ``(path, line, duplicate, token)`` for every value (and key) of a valid JSON
    text (``token``: the key or the value's first token as written)."""
    stack: list[list[Any]] = []  # [kind, key or index, keys seen, expecting key]
    line, last = 1, 0
    for m in _TOKEN.finditer(text):
        tok, pos = m.group(), m.start()
        line += text.count("\n", last, pos)
        last = pos
        top = stack[-1] if stack else None
        if tok in "}]":
            stack.pop()
            continue
        if tok == ",":
            if top is not None and top[0] == "obj":
                top[3] = True
            elif top is not None:
                top[1] += 1
            continue
        if tok == ":":
            continue
        if top is not None and top[0] == "obj" and top[3]:
            key = json.loads(tok)
            top[1], top[3] = key, False
            dup = key in top[2]
            top[2].add(key)
            yield tuple(f[1] for f in stack), line, dup, tok
            continue
        yield tuple(f[1] for f in stack), line, False, tok
        if tok == "{":
            stack.append(["obj", None, set(), True])
        elif tok == "[":
            stack.append(["arr", 0, None, False])


def _path_text(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _depth(doc: Any, name: str) -> None:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise refuse(
                name,
                f"is nested more than {MAX_DEPTH} levels deep",
                allowed=f"at most {MAX_DEPTH} levels",
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: a JSON document makes millions of containers and
    none of them can be part of a cycle yet (parsing 10^6 demand lines: 4.5 s instead of 21 s
    under load)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')


def _max_depth(compact: bytes) -> int:
    """Bracket nesting depth of an ``orjson.dumps`` text (escapes canonical: ``\\"``, ``\\\\``).

    At C speed: escaped backslashes and quotes are removed (only when there are any),
    everything but quotes and brackets is deleted, and adjacent quote pairs ``""`` (strings
    without brackets) go; removing a pair of quotes keeps the parity that tells whether a
    bracket after it lies inside a string, so brackets at odd quote parity (the rare strings
    holding a bracket) are dropped before the running sum. A skeleton of at most
    :data:`_SMALL_SKELETON` bytes is summed in Python (importing numpy would cost a small
    document's ``optim validate`` ~60 ms).
    """
    if b"\\" in compact:
        compact = compact.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = compact.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if len(skeleton) <= _SMALL_SKELETON:
        return _small_depth(skeleton)
    return _numpy_depth(skeleton)


def _numpy_depth(skeleton: bytes) -> int:
    """:func:`_max_depth`'s running sum over a skeleton of quotes and brackets, in numpy."""
    import numpy as np

    a = np.frombuffer(skeleton, dtype=np.uint8)
    if b'"' in skeleton:
        in_string = (np.cumsum(a == ord('"'), dtype=np.uint8) & 1).astype(bool)  # wraps: fine
        a = a[~in_string & (a != ord('"'))]
    step = np.where((a == ord("{")) | (a == ord("[")), 1, -1).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


_SMALL_SKELETON = 1 << 16


def _small_depth(skeleton: bytes) -> int:
    """:func:`_max_depth`'s running sum over a skeleton of quotes and brackets, in Python."""
    depth = deepest = 0
    inside = False
    for b in skeleton:
        if b == 34:  # "
            inside = not inside
        elif not inside:
            depth += 1 if b in (123, 91) else -1  # { [ open; } ] close
            deepest = max(deepest, depth)
    return deepest


def _fast_json(text: str) -> Any:
    """``text`` parsed by orjson, or ``None`` when the careful parser must look at it.

    orjson keeps the last of repeated keys, so a repeat is detected by counting: every ``:``
    of a JSON text is a key's colon or a character of a string, and orjson writes strings back
    with ``:`` as it is, so the parsed document written back has as many colons as the text
    exactly when no key/value pair was dropped (a text that spells a colon as ``\\u003a``
    goes to the careful parser). NaN/Infinity literals, invalid JSON and documents nested
    as deep as :data:`MAX_DEPTH` brackets (a scalar inside counts as one more level) go there
    too, which decides and names the problem and its line.
    """
    import orjson

    if "\\u003a" in text or "\\u003A" in text:
        return None
    try:
        with _no_gc():
            doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    try:
        compact = orjson.dumps(doc)
    except orjson.JSONEncodeError:  # pragma: no cover - what orjson read it can write
        return None
    if text.count(":") != compact.count(b":") or _max_depth(compact) >= MAX_DEPTH:
        return None
    return doc


_ESCAPE = re.compile(r"\\(?:u[dD][89a-fA-F][0-9a-fA-F]{2}|u0000|x00|0)")
"""Where a JSON or YAML escape may write no character of text (half a surrogate pair) or a
NUL: only a text holding one is looked at closely (:func:`_bad_characters`)."""


def _bad_characters(doc: Any, text: str, name: str, suffix: str = ".json") -> None:
    """Refuse a string of ``doc`` holding half a surrogate pair or a NUL (validate passed an
    id "L1\\ud800", then writing the tables failed, exit 1; a NUL went raw into lines.csv,
    which the gate refuses when it is read back), at the line of its field. The text decides
    first, cheaply: a document without such an escape holds no such character."""
    if "\\" not in text or not _ESCAPE.search(text):
        return

    def bad(value: Any) -> bool:
        return isinstance(value, str) and (
            "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value)
        )

    todo: list[tuple[str, Any]] = [("", doc)]
    while todo:
        path, item = todo.pop()
        found = None
        if isinstance(item, dict):
            found = next((k for k in item if bad(k)), None)
            todo.extend((f"{path}.{k}".lstrip("."), v) for k, v in item.items())
        elif isinstance(item, list):
            todo.extend((f"{path}[{k}]", v) for k, v in enumerate(item))
        elif bad(item):
            found = item
        if found is not None:
            raise refuse(
                name,
                f"{shown(found)} holds half a surrogate pair or a NUL",
                line=field_line(text, suffix, path) if path else 1,
                field=path or None,
                allowed="text of whole Unicode characters, no NUL",
            )
    # (an escaped backslash before the u or 0: text, not an escape)


def parse_json(text: str, name: str) -> Any:
    """Parse JSON: repeated keys, NaN/Infinity literals, deep nesting and escapes of no
    character (half a surrogate pair, NUL) refused.

    Fast path: orjson, with repeated keys and depth checked at C speed (:func:`_fast_json`);
    anything it does not accept is read again by the standard parser with a hook on every
    object, which names the repeated key, the constant or the syntax error and its line.
    """
    doc = _fast_json(text)
    if doc is not None:
        _bad_characters(doc, text, name)
        return doc
    try:
        doc = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_finite
        )
    except _Duplicate as dup:
        for path, line, is_dup, _ in _json_walk(text):
            if is_dup:
                raise refuse(
                    name,
                    f"key {str(dup)!r} appears twice in one object",
                    line=line,
                    field=_path_text(path),
                    allowed="each key once",
                ) from None
        raise refuse(name, f"key {str(dup)!r} appears twice in one object") from None
    except _Constant as exc:
        # the line and field of the first such literal (a NaN written into a value: it was
        # refused without either; 1e400 was read as infinity and shown as `inf`)
        at = next(
            ((path, line) for path, line, _, tok in _json_walk(text) if tok == str(exc)),
            None,
        )
        raise refuse(
            name,
            f"{exc} {exc.why}",
            line=at[1] if at else None,
            field=_path_text(at[0]) if at else None,
            allowed="finite numbers",
            kind=exc.kind,
        ) from None
    except json.JSONDecodeError as exc:
        raise refuse(
            name,
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            allowed="a JSON document",
            kind=SYNTAX,
        ) from None
    except ValueError as exc:  # a number of more than 4,300 digits (it ended as exit 1)
        raise refuse(name, _why(exc), allowed="numbers of at most 4,300 digits") from None
    except RecursionError:
        raise refuse(
            name, "is nested too deeply to read", allowed=f"at most {MAX_DEPTH} levels"
        ) from None
    _depth(doc, name)
    _bad_characters(doc, text, name)
    return doc


OVERFLOW = "is too large to be read as a number (it would be infinity)"
"""What is said of a number literal beyond the largest float (``1e400``), in JSON and YAML."""


class _Constant(ValueError):
    why = "is not a number JSON allows"
    kind: str | None = None


class _Overflow(_Constant):
    why = OVERFLOW
    kind = MAGNITUDE


def _no_constant(word: str) -> Any:
    raise _Constant(word)


def _finite(literal: str) -> float:
    """A JSON number with a fraction or exponent; one beyond the largest float is refused as
    written (``1e400`` was read as infinity and refused as ``inf``)."""
    value = float(literal)
    if math.isinf(value):
        raise _Overflow(literal)
    return value


# ----------------------------------------------------------------------------- YAML
class _Refused(Exception):
    def __init__(
        self,
        what: str,
        line: int | None,
        allowed: str | None = None,
        kind: str | None = None,
        node: Any = None,
    ) -> None:
        super().__init__(what)
        self.line, self.allowed, self.kind, self.node = line, allowed, kind, node


class GateLoader(yaml.SafeLoader):
    """Safe YAML loader with an alias budget and repeated keys refused."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > YAML_MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(
                    f"uses more than {YAML_MAX_ALIASES:,} aliases (*anchor)",
                    mark.line + 1,
                    f"at most {YAML_MAX_ALIASES:,}",
                )
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        node = super().compose_document()
        _expanded_size(node)
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, AttributeError) as exc:
            # a date 2025-02-30, an explicit !!int abc, a number of 5,000 digits: refused at
            # the value's line (they ended as an internal error, exit 1, or a 500)
            kind = node.tag.rsplit(":", 1)[-1]
            raise _Refused(
                f"{_node_text(node)} cannot be read as {_KINDS.get(kind, kind)} ({_why(exc)})",
                node.start_mark.line + 1,
                "a value of its kind",
            ) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if key_node.tag != "tag:yaml.org,2002:str":  # true, 1, null, [a]: not names
                    kind = key_node.tag.rsplit(":", 1)[-1]
                    raise _Refused(
                        f"key {_node_text(key_node)} is read as {_KINDS.get(kind, kind)}, not "
                        "as text",
                        key_node.start_mark.line + 1,
                        "text keys (write the key in quotes)",
                    )
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise _Refused(
                            f"key {key_node.value!r} appears twice in one mapping",
                            key_node.start_mark.line + 1,
                            "each key once",
                        )
                    seen.add(key)
        return super().construct_mapping(node, deep)


# Plain scalars read by YAML 1.2's core schema, not PyYAML's YAML 1.1 rules, under which
# `010` is 8 (octal), `1:30` is 90 (base 60), `1_0` is 10, `yes` / `on` are booleans and
# `1e3` (no dot) is text: a planner's lead time of 010 weeks silently became 8. A whole number
# written with a leading zero (`010`, `08`) is text here: YAML 1.1 reads it as octal, 1.2 as
# decimal, and as an id (`id: 08`) its zero matters - a number field refuses it by name.
_BOOL, _INT, _FLOAT = _SCALAR_TAGS = tuple(
    f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float")
)
_VALUE = "tag:yaml.org,2002:value"  # YAML 1.1's `=` (a plain `=` is text in 1.2)
GateLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (*_SCALAR_TAGS, _VALUE)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GateLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
GateLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
GateLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _yaml_bool(loader: GateLoader, node: Any) -> bool:
    text = str(loader.construct_scalar(node))
    if text.lower() not in ("true", "false"):  # an explicit !!bool yes was read as false
        raise _Refused(f"{text!r} is not a boolean", node.start_mark.line + 1, "true or false")
    return text.lower() == "true"


def _yaml_int(loader: GateLoader, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text, 10)  # (an explicit !!int 010 is ten)
    if re.fullmatch(r"0[ox][0-9a-fA-F]+", text):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(loader.construct_yaml_int(node))  # explicit !!int 0b11, -0x1F, 1:30: YAML 1.1's


def _yaml_float(loader: GateLoader, node: Any) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return -math.inf if text[0] == "-" else math.inf
    if text == ".nan":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return float(loader.construct_yaml_float(node))  # explicit !!float 1:30: YAML 1.1's
    if math.isinf(value):  # 1e400 (it was read as infinity and refused as `inf`)
        written = str(node.value)
        raise _Refused(
            f"{written} {OVERFLOW}", node.start_mark.line + 1, "finite numbers", MAGNITUDE, node
        )
    return value


GateLoader.add_constructor(_BOOL, _yaml_bool)
GateLoader.add_constructor(_INT, _yaml_int)
GateLoader.add_constructor(_FLOAT, _yaml_float)


class GateDumper(yaml.SafeDumper):
    """Safe YAML writer whose text reads back the same through :class:`GateLoader` (and
    YAML 1.1 readers): a string either schema reads as something else (``1e3``, ``0o17``,
    ``yes``, ``010``) is written in quotes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """A string with a character YAML reads as a line break (NEL, U+2028, U+2029) in double
    quotes, where it is written escaped: written as is, ``'\x85'`` read back as a space."""
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


GateDumper.add_representer(str, _represent_str)


_OLD, _NEW = yaml.SafeDumper.yaml_implicit_resolvers, GateLoader.yaml_implicit_resolvers
GateDumper.yaml_implicit_resolvers = {  # YAML 1.1's resolvers and the gate's 1.2 ones
    first: [*_OLD.get(first, []), *(r for r in _NEW.get(first, []) if r[0] in _SCALAR_TAGS)]
    for first in {*_OLD, *_NEW}
}


def dump_yaml(data: Any) -> str:
    """``data`` as YAML text that :func:`parse_yaml` reads back equal (block style, keys in
    their order, Unicode as is)."""
    return yaml.dump(data, Dumper=GateDumper, sort_keys=False, allow_unicode=True)


_KINDS = {
    "bool": "a boolean",
    "int": "a whole number",
    "float": "a number",
    "null": "null",
    "timestamp": "a date",
    "seq": "a list",
    "map": "a mapping",
}


def _why(exc: Exception) -> str:
    """A reading error in a planner's words (Python's digit limit names its own setting)."""
    if "4300 digits" in str(exc):
        return "a whole number of more than 4,300 digits"
    return str(exc)


def _node_text(node: Any) -> str:
    if isinstance(node, yaml.ScalarNode):
        text = repr(node.value)
        return text if len(text) <= 60 else text[:57] + "..."
    return "(a list or mapping)"


def _expanded_size(root: Any) -> None:
    """Number of values once aliases are expanded (memoised per node); cycles refused."""
    size: dict[int, int] = {}
    state: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            total = 1 + sum(size[id(c)] for c in children)
            if total > YAML_MAX_NODES:
                raise _Refused(
                    f"expands to more than {YAML_MAX_NODES:,} values through aliases",
                    node.start_mark.line + 1,
                    f"at most {YAML_MAX_NODES:,} values",
                )
            size[key], state[key] = total, 2
            continue
        if state.get(key) == 2:
            continue
        if state.get(key) == 1:
            raise _Refused(
                "an alias refers to a node that contains it (a cycle)",
                node.start_mark.line + 1,
                "aliases without cycles",
            )
        state[key] = 1
        stack.append((node, True))
        for c in children:
            if state.get(id(c)) == 1:
                raise _Refused(
                    "an alias refers to a node that contains it (a cycle)",
                    c.start_mark.line + 1,
                    "aliases without cycles",
                )
            if state.get(id(c)) != 2:
                stack.append((c, False))


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML with :class:`GateLoader` (safe, alias budget, repeated keys refused)."""
    try:
        doc = yaml.load(text, Loader=GateLoader)
    except _Refused as exc:
        field = _yaml_field(text, exc.node) if exc.node is not None else None
        raise refuse(
            name, str(exc), line=exc.line, field=field, allowed=exc.allowed, kind=exc.kind
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "").split())
        constructor = isinstance(exc, yaml.constructor.ConstructorError)  # well-formed: a tag
        raise refuse(
            name,
            f"{'unsupported' if constructor else 'invalid'} YAML ({problem})",
            line=mark.line + 1 if mark else None,
            allowed="plain YAML values (no !tags)" if constructor else "a YAML document",
            kind=None if constructor else SYNTAX,
        ) from None
    except yaml.YAMLError as exc:
        what = f"invalid YAML ({' '.join(str(exc).split())})"
        raise refuse(name, what, kind=SYNTAX) from None
    except RecursionError:
        raise refuse(
            name, "is nested too deeply to read", allowed=f"at most {MAX_DEPTH} levels"
        ) from None
    _depth(doc, name)
    _bad_characters(doc, text, name, ".yaml")
    return doc


def _yaml_field(text: str, node: Any) -> str | None:
    """The field (``"stages[0].lead_time"``) of the scalar ``node`` of a YAML text, or None."""
    try:
        root = yaml.compose(text, Loader=GateLoader)
    except Exception:  # locating is best effort
        return None
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, yaml.ScalarNode) and item.start_mark.index == node.start_mark.index:
            return _path_text(path) or None
        if isinstance(item, yaml.MappingNode):
            stack.extend((v, (*path, k.value)) for k, v in item.value)
        elif isinstance(item, yaml.SequenceNode):
            stack.extend((v, (*path, k)) for k, v in enumerate(item.value))
    return None


def field_line(text: str, suffix: str, field: str | None) -> int | None:
    """Line of ``field`` (``"stages[2].lead_time"``) in a JSON or YAML text, or None."""
    if not field:
        return None
    parts: list[Any] = []
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", field):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    best: int | None = None
    if suffix == ".json":
        return json_line(text, parts)
    try:
        root = yaml.compose(text, Loader=GateLoader)
    except Exception:  # locating is best effort
        return None
    best = _yaml_line(root, parts)
    if best is None and isinstance(root, yaml.MappingNode):  # a document nested under a key
        for _, value in root.value:
            best = _yaml_line(value, parts)
            if best is not None:
                break
    return best


def json_line(text: str, parts: Iterable[Any]) -> int | None:
    """Line of the value at ``parts`` (keys and list indexes, a key may hold dots:
    ``("files", "report.html")``) in a JSON text, else of its nearest enclosing value;
    None when the text is not JSON."""
    parts = tuple(parts)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        for path, line, _, _ in _json_walk(text):
            lines.setdefault(path, line)
    except (ValueError, IndexError):
        return None
    for k in range(len(parts), 0, -1):
        best = lines.get(parts[:k])
        if best is not None:
            return best
    return None


def _yaml_line(node: Any, parts: list[Any]) -> int | None:
    best: int | None = None
    for part in parts:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    best = k.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and part < len(node.value)
        ):
            nxt = node.value[part]
            best = nxt.start_mark.line + 1
        if nxt is None:
            return best if part is not parts[0] else None
        node = nxt
    return best


def load_document(path: str | Path, what: str = "document") -> tuple[Any, str, str]:
    """Read and parse a JSON or YAML file (``-``: standard input, JSON or YAML).

    Returns ``(document, text, suffix)``; the text and suffix let :func:`located` put the
    line of a field into a later validation error.
    """
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if name != "-" and suffix not in (".json", ".yaml", ".yml"):
        if path.is_dir():
            raise refuse(name, "is a folder without a known set of CSV files")
        raise refuse(
            name,
            f"unknown file type {suffix or '(none)'!r}",
            allowed=".json, .yaml, .yml, '-' (standard input) or a folder of CSV files",
        )
    text = read_text(path, what)
    if name == "-":
        name = "standard input"
        suffix = ".json" if text.lstrip()[:1] in "{[" else ".yaml"
    if not text.strip():
        empty = "it is empty" if name == "standard input" else "the file is empty"
        raise refuse(name, empty, allowed=f"a non-empty {what}")
    doc = parse_json(text, name) if suffix == ".json" else parse_yaml(text, name)
    return doc, text, suffix


def located(exc: InstanceError, name: str, text: str, suffix: str) -> InstanceError:
    """``exc`` with the file name and the line of its field in front."""
    message = str(exc)
    if message.startswith(name):
        return exc
    line = field_line(text, suffix, exc.field)
    head = f"{name} line {line}" if line is not None else name
    return InstanceError(f"{head}: {message}", field=exc.field, kind=exc.kind)


# ----------------------------------------------------------------------------- CSV
TEXT_COLUMNS = frozenset(
    {
        "date",
        "customer",
        "item",
        "location",
        "channel",
        "order",
        "family",
        "segment",
        "id",
        "name",
        "product",
        "resource",
        "period",
        "routing",
        "key",
        "value",
        "demand_id",
    }
)
"""Columns kept as the text written (ids keep leading zeros; dates are parsed later)."""


_LINE_END = re.compile(r"[\r\n]")


def read_csv_text(
    path: str | Path,
    name: str | None = None,
    text_columns: Iterable[str] | None = TEXT_COLUMNS,
    *,
    keep_case: bool = False,
) -> Any:
    """A CSV file as a DataFrame: id and date columns as the text written, other columns
    parsed by pandas' C reader (numbers stay numbers; a column with a word in it stays text,
    so the message can show it as written); only an empty cell is missing (``NA`` is text).

    The frame's index is the file line of each row (header = line 1), so messages name the
    line the planner sees; blank lines are skipped but keep the numbering. Refused with a
    message: a missing, unreadable, binary, non-UTF-8, empty or oversized file, a header with
    a repeated or empty column name, a row with more cells than the header. Column names are
    stripped and lower-cased (``keep_case``: stripped only, for names that hold ids);
    ``text_columns=None`` keeps every column as the text written.
    """
    import pandas as pd

    path = Path(path)
    name = name or str(path)
    data = read_bytes(path, "CSV file", MAX_CSV_BYTES)
    text = decode(data, name)
    if not text or text.isspace():  # (text.strip() would copy a 70 MB file)
        raise refuse(name, "is empty", allowed="a header line and data rows")
    # the first line, whatever ends it: a file with old Mac line ends (a lone \r) has no
    # \n, and its whole text as one "line" made the csv module fail (exit 1)
    end = _LINE_END.search(text)
    header, norm = _csv_header(name, text[: end.start()] if end else text)
    wanted = set(norm if text_columns is None else text_columns)

    def lines() -> Any:  # the text's lines, for the error path
        return contextlib.nullcontext(io.StringIO(text, newline=""))

    with _csv_parsing(name, len(header), lines):
        frame = pd.read_csv(
            io.BytesIO(data),  # checked UTF-8 above; the C reader drops a BOM
            dtype={h: str for h, n in zip(header, norm, strict=True) if n in wanted},
            **_CSV_OPTIONS,
        )
    frame.columns = [h.strip() for h in header] if keep_case else norm
    frame.index = _record_lines(text, len(frame))
    frame = _without_blank_rows(frame)
    frame.attrs["source"] = name
    frame.attrs["text_cells"] = True  # every cell is the text as written (no booleans)
    return frame


def read_csv_chunks(
    path: str | Path, name: str, chunk_rows: int, *, keep_case: bool = False
) -> Iterator[Any]:
    """:func:`read_csv_text` of a file too large to hold, in chunks of at most ``chunk_rows``
    rows, every cell as the text written: the same header checks, the same refusals of a
    row with more cells than the header or an unclosed quote (their line as the planner
    sees it), blank rows dropped alike (a chunk may hold fewer rows; the rows are those of
    :func:`read_csv_text`, in order). The file checks of :func:`read_bytes` and
    :func:`decode` are the caller's (:func:`check_text_stream`: once, not per reading)."""
    import pandas as pd

    path = Path(path)

    def lines() -> Any:  # the file's lines, for the error path
        return path.open(encoding="utf-8-sig", newline="")

    with lines() as fh:
        first = fh.readline()  # (newline="": a lone \r ends the line too)
        if not first.strip() and all(not b.strip() for b in iter(lambda: fh.read(1 << 20), "")):
            raise refuse(name, "is empty", allowed="a header line and data rows")
    header, norm = _csv_header(name, first.rstrip("\r\n"))
    with _csv_parsing(name, len(header), lines):
        reader = pd.read_csv(path, dtype=str, chunksize=chunk_rows, **_CSV_OPTIONS)
    with reader:
        while True:
            with _csv_parsing(name, len(header), lines):
                chunk = next(reader, None)
            if chunk is None:
                return
            chunk.columns = [h.strip() for h in header] if keep_case else norm
            yield _without_blank_rows(chunk)


_CSV_OPTIONS: dict[str, Any] = {
    "keep_default_na": False,  # only an empty cell is missing: NA (North America) is text
    "na_values": [""],
    "skip_blank_lines": False,  # blank lines are rows (the free line numbering), then dropped
    "on_bad_lines": "error",
    # a first data row with more cells than the header made pandas take the first column as
    # the index: every column shifted (product 'key', quantity 'DC1'); index_col=False keeps
    # the columns, and warns of cells past the header, which _csv_parsing makes an error
    "index_col": False,
}
"""pandas' reading of a CSV file for :func:`read_csv_text` and :func:`read_csv_chunks`."""


def _csv_header(name: str, header_line: str) -> tuple[list[str], list[str]]:
    """The header's cells and their names stripped and lower-cased; an empty header, an
    empty or repeated name refused at line 1."""
    header = next(csv.reader([header_line]))
    norm = [h.strip().lower() for h in header]
    if not header_line.strip():
        raise refuse(
            name, "the header line is empty", line=1, allowed="a header line naming the columns"
        )
    for k, col in enumerate(norm):
        if not col:
            raise refuse(
                name,
                f"column {k + 1} of the header has no name",
                line=1,
                allowed="a name for every column",
            )
        if col in norm[:k]:
            raise refuse(
                name,
                f"column {col!r} appears twice (columns {norm.index(col) + 1} and {k + 1})",
                line=1,
                field=col,
                allowed="each column once",
            )
    return header, norm


@contextlib.contextmanager
def _csv_parsing(name: str, width: int, lines: Any) -> Iterator[None]:
    """pandas' reading of ``name`` (``width`` header cells) in this block, its errors as
    refusals naming the line; ``lines()``: a context manager of the file's lines, opened
    only on the error path. Cells past the header are an error (the warning filter is
    process-wide: the service reads CSV files in threads, hence the lock, held only while
    pandas reads, never across a chunk's use)."""
    import pandas as pd

    try:
        with _PARSER_WARNINGS, warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield
    except pd.errors.ParserWarning:
        with lines() as text:
            raise _long_row(name, text, width, None) from None
    except pd.errors.ParserError as exc:
        saw = re.search(r"Expected (\d+) fields in line (\d+), saw", str(exc))
        if saw and int(saw.group(1)) == width:  # a later row: worded as the first one
            with lines() as text:
                raise _long_row(name, text, width, int(saw.group(2))) from None
        m = re.search(r"line (\d+)", str(exc))
        quote = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        line = int(m.group(1)) if m else int(quote.group(1)) + 1 if quote else None
        raise refuse(
            name,
            f"cannot be read as CSV ({' '.join(str(exc).split())})",
            line=line,
            allowed="a closing quote for every opening one"
            if quote
            else "the same number of cells on every line",
        ) from None
    except (ValueError, OSError) as exc:
        raise refuse(name, f"cannot be read as CSV ({' '.join(str(exc).split())})") from None


def _without_blank_rows(frame: Any) -> Any:
    """``frame`` without its blank rows (every cell missing: a blank line, or only commas)."""
    if len(frame):
        first = frame.iloc[:, 0].isna().to_numpy()  # a blank line is missing everywhere
        if first.any():
            blank = first.copy()
            blank[first] = frame[first].isna().all(axis=1).to_numpy()
            if blank.any():
                frame = frame[~blank]
    return frame


_PARSER_WARNINGS = threading.Lock()


def _long_row(name: str, lines: Iterable[str], width: int, line: int | None) -> InstanceError:
    """The refusal of the first record with more than ``width`` cells — one trailing empty
    cell aside, which pandas reads as none (``1,2,``) — naming its line and the cells past
    the header (``lines``: the file's, read with ``newline=""``; ``line``: pandas' own, when
    the csv module finds none)."""
    reader = csv.reader(lines)
    before, extra = 0, None
    for cells in reader:
        if len(cells) > width + 1 or (len(cells) == width + 1 and cells[width] != ""):
            line, extra = before + 1, ",".join(cells[width:])
            break
        before = reader.line_num
    past = f" (past them: {shown(extra)})" if extra is not None else ""
    return refuse(
        name,
        f"has more cells than its header's {width}{past}",
        line=line,
        allowed="the same number of cells on every line (a cell holding a comma in quotes)",
    )


def _record_lines(text: str, rows: int) -> Any:
    """The file line each data row starts on (header = line 1): one row per line unless a
    quoted cell holds a line break, then counted by the csv module (rare, so the 10^6-line
    files keep the free numbering)."""
    import pandas as pd

    lines = text.count("\n") + (not text.endswith("\n"))
    if lines - 1 == rows:
        return pd.RangeIndex(2, 2 + rows)
    starts = []
    reader = csv.reader(io.StringIO(text, newline=""))
    before = 0
    for _ in reader:
        starts.append(before + 1)
        before = reader.line_num
    if len(starts) - 1 != rows:  # pragma: no cover - pandas and csv split records alike
        return pd.RangeIndex(2, 2 + rows)
    return pd.Index(starts[1:])


def csv_record(path: str | Path, row: int) -> tuple[int, list[str]] | None:
    """Data row ``row`` of a CSV file (from 0; blank rows skipped, as :func:`read_csv_text`
    and :func:`read_csv_chunks` skip them): the file line it starts on (header = line 1)
    and its cells as written; None when the file cannot be read that far. For messages:
    the file is read again, up to the row, only on the error path."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            before, seen = 0, -1  # the header is record -1
            for record in reader:
                if any(record):
                    if seen == row:
                        return before + 1, record
                    seen += 1
                before = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def first_blank_line(frame: Any, column: str) -> int | None:
    """The file line of ``frame``'s first row (a :func:`read_csv_text` frame: the index is
    the line) whose ``column`` is empty or only spaces; None when every cell holds text."""
    cells = frame[column]
    blank = cells.isna() | (cells.astype(str).str.strip() == "")
    return int(frame.index[int(blank.to_numpy().argmax())]) if blank.any() else None


def strip_text(values: Any) -> Any:
    """``values.astype(str).str.strip()``, stripping each distinct value once (id columns
    repeat few values; 10^6 cells strip in milliseconds instead of seconds)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    texts = np.array([str(u).strip() for u in uniques], dtype=object)
    return pd.Series(texts[codes], index=values.index, name=values.name)


# ----------------------------------------------------------------------------- numbers
def check_number(value: Any, field: str, *, allowed: str = "a finite number") -> None:
    """Strict number: not a string, not a boolean, finite, |x| <= :data:`MAX_MAGNITUDE`."""
    if isinstance(value, bool):
        raise InstanceError(
            f"{field} must be a number, got {shown(value)} (a boolean); allowed: {allowed}.",
            field=field,
        )
    if isinstance(value, str):
        raise InstanceError(
            f"{field} must be a number, got {shown(value)} ({text_hint(value)}); "
            f"allowed: {allowed}.",
            field=field,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InstanceError(
            f"{field} must be finite, got {value}; allowed: {allowed}.", field=field
        )
    if isinstance(value, (int, float)) and abs(value) > MAX_MAGNITUDE:
        raise InstanceError(
            f"{field} is {shown(value)}; allowed: at most {MAX_MAGNITUDE:.0e} "
            "in absolute value (rescale the units).",
            field=field,
            kind=MAGNITUDE,
        )


# ----------------------------------------------------------------------------- outputs
def check_path(value: Any, name: str) -> None:
    """A ``TypeError`` naming the argument unless ``value`` is ``str`` or ``os.PathLike``
    (``None`` or ``5`` ended in pathlib's "expected str, bytes or os.PathLike object")."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be str or Path, not {type(value).__name__}")


def check_output(path: str | Path, *, folder: bool, option: str = "--out") -> None:
    """Refuse an output path that cannot be written, before any work starts.

    A file output must not be a folder and its folder must exist and be writable; a folder
    output must not be a file, and it (or its nearest existing parent) must be writable.
    ``-`` (standard output) is always fine for a file.
    """
    p = Path(path)
    if not folder and str(p) == "-":
        return
    label = f"{option} {path}"
    if folder:
        if p.exists() and not p.is_dir():
            raise refuse(label, "is a file", allowed="a folder (existing or new)")
        probe = p
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise refuse(
                label,
                f"{probe} is a file, so the folder cannot be created",
                allowed="a folder path",
            )
    else:
        if p.is_dir():
            raise refuse(label, "is a folder", allowed="a file path")
        probe = p.parent if str(p.parent) else Path(".")
        if not probe.is_dir():
            raise refuse(
                label, f"folder {probe} does not exist", allowed="a file in an existing folder"
            )
    try:
        fd, tmp = tempfile.mkstemp(prefix=".optim-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise refuse(
            label,
            f"cannot write in {probe} ({exc.strerror or exc})",
            allowed="a writable location",
        ) from None


# ----------------------------------------------------------------------------- memory
def memory_limit() -> int:
    """Bytes a solve may need: ``$OPTIM_MEMORY_LIMIT_GB`` (GiB, a number in
    (0, :data:`MAX_MEMORY_GIB`]), else :data:`MEMORY_LIMIT_BYTES`.

    Read at each check: parsed at import, a typo in the variable (``8GB``, ``nan``) ended every
    command but ``--version`` as an internal error, and ``-1`` refused every instance."""
    text = os.environ.get(ENV_MEMORY, "").strip()
    if not text:
        return MEMORY_LIMIT_BYTES
    try:
        gib = float(text)
    except ValueError:
        gib = math.nan
    if not 0 < gib <= MAX_MEMORY_GIB:  # NaN too
        raise InstanceError(
            f"${ENV_MEMORY}={text!r} is not a memory limit; allowed: a number of GiB > 0 and "
            f"at most {MAX_MEMORY_GIB:,} (unset: {MEMORY_LIMIT_BYTES / 2**30:g})",
            field=ENV_MEMORY,
        )
    return int(gib * 2**30)


def gsm_memory_bytes(
    lead_times: dict[str, int],
    external: dict[str, int],
    arcs: list[tuple[str, str]],
    *,
    tree: bool,
) -> tuple[int, int]:
    """Estimated peak memory of a safety-stock solve, and the longest replenishment time.

    Stage ``j``'s service times range over ``0..L_j``, ``L_j`` the longest cumulative lead
    time (plus external service time) ending at ``j``. The tree DP holds one
    ``(L_j + 1)²`` cost table per stage at a time (a few float64 temporaries) and the
    arg-minima of every stage.
    """
    longest = {
        sid: inbound + lead_times[sid] for sid, inbound in _inbound(lead_times, external, arcs)
    }
    sizes = [(v + 1) for v in longest.values()] or [1]
    # one (L+1)² table and a few temporaries at a time, arg-minima of every stage; general
    # networks solve the same DP on spanning trees for their bounds, then a MIP over the
    # stages' candidate service times (kept per stage, linear in L)
    peak = 32 * max(sizes) ** 2 + (16 if tree else 64) * sum(sizes)
    return peak, max(sizes) - 1


def memory_inputs(stages: Sequence[Any], arcs: list[tuple[str, str]]) -> dict[str, Any]:
    """The network facts :func:`check_gsm_memory` estimates from, for
    :class:`~optim.instances.safety_stock.Stage` records or plain ones (``optim validate``'s,
    deterministic whole lead times only): the solvers' lead times :math:`T_j` (a normal lead time's
    spread counts: lead_time 3 with lead_time_std_dev 1e12 passed, then the solve refused it naming
    no file), the field and value of each random lead time, the points of each stage's lead-time
    table, and whether the network is a serial chain (solved in O(N^2) without the (L+1)^2 arrays,
    models/safety_stock/serial.py: only its tables are estimated). One source for a document's
    check and plan.yaml's (which estimated the mean lead time: a lead_time_std_dev 1e12 passed
    validate and the plan refused it naming no line)."""
    indeg: dict[str, int] = {}
    outdeg: dict[str, int] = {}
    for source, target in arcs:
        indeg[target] = indeg.get(target, 0) + 1
        outdeg[source] = outdeg.get(source, 0) + 1
    random = {
        s.id: (
            ("lead_time_distribution", [p.value for p in s.lead_time_distribution])
            if s.lead_time_distribution is not None
            else ("lead_time_std_dev", s.lead_time_std_dev)
        )
        for s in stages
        if getattr(s, "stochastic_lead_time", False)
    }
    return {
        "lead_times": {s.id: getattr(s, "solver_lead_time", s.lead_time) for s in stages},
        "external": {s.id: s.external_service_time for s in stages},
        "arcs": arcs,
        "random": random,
        "serial": len(arcs) == len(stages) - 1
        and max(indeg.values(), default=0) <= 1
        and max(outdeg.values(), default=0) <= 1,
        "tables": {s.id: p for s in stages if (p := getattr(s, "table_points", None)) is not None},
    }


def check_gsm_memory(
    lead_times: dict[str, int],
    external: dict[str, int],
    arcs: list[tuple[str, str]],
    *,
    tree: bool,
    where: str = "stages",
    caps: dict[str, Any] | None = None,
    random: dict[str, tuple[str, Any]] | None = None,
    serial: bool = False,
    tables: dict[str, int] | None = None,
) -> None:
    """Refuse a safety-stock instance whose estimated memory exceeds
    :func:`memory_limit`, or one stage's solver arrays :data:`STAGE_MEMORY_BYTES`
    (``caps``: stage id -> the least ``max_service_time`` of the stage and its demands),
    or one stage's lead-time table :data:`STAGE_MEMORY_BYTES` (``tables``: stage id -> the
    points of its lead-time law, :func:`lead_time_table_bytes`), before anything is
    allocated. ``lead_times`` are the solvers' :math:`T_j`; ``random``: stage id -> (field,
    value as written) of a random lead time whose :math:`T_j` its spread sets
    (``lead_time_std_dev``, ``lead_time_distribution``). A ``serial`` chain is solved
    without the tree DP's arrays (models/safety_stock/serial.py), so only its lead-time
    tables are checked: the solve refused a chain's lead_time_std_dev 1e12 on them that
    ``optim validate`` passed."""
    peak, longest = gsm_memory_bytes(lead_times, external, arcs, tree=tree)

    def cause(sid: str) -> tuple[str, str]:
        """The field (its line) and the words of stage ``sid``'s lead time."""
        leaf, value = (random or {}).get(sid, ("lead_time", lead_times[sid]))
        if leaf == "lead_time":
            return f"{where}[{ids.index(sid)}].{leaf}", (
                f"largest lead_time {lead_times[sid]:,} at stage {sid!r}"
            )
        # (it named the mean, lead_time 3, of a lead_time_std_dev 1e12)
        return f"{where}[{ids.index(sid)}].{leaf}", (
            f"longest lead time {lead_times[sid]:,} periods at stage {sid!r}, from its "
            f"{leaf} {shown(value)}"
        )

    ids = list(lead_times)
    field, largest = cause(max(lead_times, key=lambda s: lead_times[s]))
    limit = memory_limit()
    if not serial and peak > limit:
        raise InstanceError(
            f"{where}: the longest replenishment time is {longest:,} periods ({largest}), so "
            "the solve would need "
            f"about {peak / 2**30:,.0f} GiB; allowed: at most {limit / 2**30:,.0f} "
            "GiB (OPTIM_MEMORY_LIMIT_GB) — count lead times in coarser periods (weeks "
            "instead of days).",
            field=field,
        )
    stage, need = (
        _largest_stage_arrays(lead_times, external, arcs, caps or {}) if not serial else ("", 0)
    )
    if need > STAGE_MEMORY_BYTES:
        # the solve's own check (models/safety_stock/data.py check_size, same estimate):
        # it ran after the stage tables, so `optim validate` passed what `optim solve`
        # refused some 20 s later, naming no file
        raise InstanceError(
            f"{where}: stage {stage!r} would need about {need / 2**30:,.1f} GiB of solver "
            f"arrays ({largest}); allowed: "
            f"at most {STAGE_MEMORY_BYTES / 2**30:g} GiB per stage — count lead times in "
            "coarser periods (weeks instead of days).",
            field=field,
        )
    stage, need = "", 0.0
    for sid, inbound in _inbound(lead_times, external, arcs):
        if sid in (tables or {}):
            size = lead_time_table_bytes(float(inbound + lead_times[sid]), (tables or {})[sid])
            if size > need:
                stage, need = sid, size
    if need > STAGE_MEMORY_BYTES:  # (it named the line of the longest lead time's stage)
        field, largest = cause(stage)
        raise InstanceError(
            f"{where}: stage {stage!r} would need about {need / 2**30:,.1f} GiB for the "
            f"table of its random lead time ({largest}); allowed: at most "
            f"{STAGE_MEMORY_BYTES / 2**30:g} GiB per stage — count lead times in coarser "
            "periods (weeks instead of days).",
            field=field,
        )


def _inbound(
    lead_times: dict[str, Any], external: dict[str, Any], arcs: list[tuple[str, str]]
) -> Iterator[tuple[str, Any]]:
    """``(stage, longest inbound replenishment time)`` in topological order: the longest
    cumulative lead time of its suppliers, or its external service time if longer."""
    from optim.models.graph import topological_list

    ids = list(lead_times)
    index = {sid: k for k, sid in enumerate(ids)}
    pred: dict[str, list[str]] = {sid: [] for sid in ids}
    for u, v in arcs:
        pred[v].append(u)
    longest: dict[str, Any] = {}
    for k in topological_list(len(ids), [index[u] for u, _ in arcs], [index[v] for _, v in arcs]):
        sid = ids[k]
        inbound = max([external.get(sid, 0), *(longest[p] for p in pred[sid])])
        longest[sid] = inbound + lead_times[sid]
        yield sid, inbound


def _largest_stage_arrays(
    lead_times: dict[str, Any],
    external: dict[str, Any],
    arcs: list[tuple[str, str]],
    caps: dict[str, Any],
) -> tuple[str, float]:
    """The stage with the largest tree-DP arrays and their bytes (:func:`stage_array_bytes`),
    ``S̄I_j`` the longest inbound replenishment time, ``S̄_j`` the longest outbound one
    capped by the stage's and its demands' ``max_service_time`` (``caps``)."""
    best, need = next(iter(lead_times), ""), 0.0
    whole = {sid: math.ceil(lead) for sid, lead in lead_times.items()}
    for sid, inbound in _inbound(whole, external, arcs):
        out = min(inbound + whole[sid], caps.get(sid, math.inf))
        cells = stage_array_bytes(float(out), float(inbound))
        if cells > need:
            best, need = sid, cells
    return best, need
