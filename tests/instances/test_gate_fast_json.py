"""The input gate's orjson fast path gives the careful parser's answer on every text.

:func:`optim.instances.gate.parse_json` reads with orjson and detects repeated keys by
counting colons, depth by a bracket skeleton; anything doubtful goes to the standard parser
with a hook on every object. Random documents — keys and strings full of colons, brackets,
quotes, backslashes and ``\\u003a`` escapes, nested up to past the depth limit, with repeated
keys spliced in — are accepted or refused exactly as the careful parser alone does.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.errors import InstanceError
from optim.instances import gate

text = st.text(alphabet=st.sampled_from(list('ab:[]{}"\\, é\n')), max_size=6)
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6), text
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=25,
)


def _careful(raw: str) -> object:
    """The standard parser with the gate's hooks alone (no fast path)."""
    return json.loads(raw, object_pairs_hook=gate._pairs, parse_constant=gate._no_constant)


def _outcome(fn, raw: str) -> tuple[str, object]:
    try:
        return "ok", fn(raw)
    except (InstanceError, gate._Duplicate, gate._Constant, ValueError, RecursionError) as exc:
        return "refused", type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(value, st.integers(0, 3), st.booleans(), st.sampled_from([0, 60, 63, 64, 70]))
def test_fast_path_agrees_with_the_careful_parser(doc, repeat, escape, nest):
    raw = json.dumps(doc, ensure_ascii=escape)
    if repeat and isinstance(doc, dict) and doc:
        # splice a repeated key into the outermost object
        key = json.dumps(next(iter(doc)))
        raw = raw[:-1] + ("," if len(doc) else "") + f"{key}: {repeat}" + "}"
    if escape:
        raw = raw.replace(":", "\\u003a", 1) if '"' in raw and ":" in raw else raw
    if nest:
        raw = "[" * nest + raw + "]" * nest
    fast = _outcome(lambda r: gate.parse_json(r, "doc.json"), raw)
    careful = _outcome(_careful, raw)
    if careful[0] == "ok":
        depth_ok = gate._depth  # the careful path's depth rule decides the rest
        try:
            depth_ok(careful[1], "doc.json")
        except InstanceError:
            careful = ("refused", "depth")
    assert fast[0] == careful[0], (raw, fast, careful)
    if fast[0] == "ok":
        assert fast[1] == careful[1] or json.dumps(fast[1]) == json.dumps(careful[1])


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": 1, "b": {"x": "1:2", "x": 2}}',
        '{"a": {"k": {"q": "1:2"}}, "a": 3}',
        '{"ids": ["a:b", "c"], "ids": []}',
    ],
)
def test_repeated_keys_are_refused_with_their_line(raw):
    with pytest.raises(InstanceError, match="appears twice in one object"):
        gate.parse_json(raw, "doc.json")
