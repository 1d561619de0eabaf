"""Result documents carry ``schema_version`` and validate against their JSON Schemas
(``optim schema result-KIND`` / ``manifest``, issue 12); the schemas refuse what they must."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

import optim
from optim.cli import main
from optim.params import SolveParams
from optim.result_schema import (
    DOCUMENTS,
    OPTIONAL_TABLES,
    RESULT_SCHEMA_VERSION,
    TABLES,
    document_schema,
)

DATA = Path(optim.__file__).resolve().parents[1] / "instances" / "data"
EXAMPLES = {
    "rationing": "weekly_rationing.json",
    "safety_stock": "two_echelon_gsm.json",
    "capacity": "peak_capacity.json",
}


def _check(doc, name):
    schema = document_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)


@pytest.fixture(scope="module")
def documents():
    out = {}
    for kind, name in EXAMPLES.items():
        out[kind] = json.loads(optim.solve(optim.load(DATA / name)).to_json())
    return out


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_real_results_validate_with_every_guaranteed_table(documents, kind):
    doc = documents[kind]
    assert doc["schema_version"] == RESULT_SCHEMA_VERSION and doc["kind"] == kind
    _check(doc, f"result-{kind}")
    assert set(TABLES[kind]) <= set(doc)
    filled = [t for t in TABLES[kind] if doc[t]]  # e.g. no overtime used: an empty table
    assert len(filled) >= len(TABLES[kind]) // 2
    for table in filled:
        assert set(TABLES[kind][table]) <= set(doc[table][0]), table


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_schema_refuses_a_missing_column_a_wrong_type_and_another_version(documents, kind):
    table, columns = next(
        (t, c)
        for t, c in TABLES[kind].items()
        if documents[kind][t] and t not in OPTIONAL_TABLES.get(kind, ())
    )
    column = next(iter(columns))
    broken = copy.deepcopy(documents[kind])
    del broken[table][0][column]
    with pytest.raises(jsonschema.ValidationError):
        _check(broken, f"result-{kind}")
    number = next(c for c, t in columns.items() if t == "number")
    broken = copy.deepcopy(documents[kind])
    broken[table][0][number] = "12"  # a number written as a string
    with pytest.raises(jsonschema.ValidationError):
        _check(broken, f"result-{kind}")
    for change in ({"schema_version": 0}, {"status": "done"}):
        with pytest.raises(jsonschema.ValidationError):
            _check({**documents[kind], **change}, f"result-{kind}")
    solved = dict(documents[kind])
    del solved[table]  # a result with a solution has every table
    with pytest.raises(jsonschema.ValidationError):
        _check(solved, f"result-{kind}")


def test_result_without_a_solution_validates():
    inst = json.loads((DATA / "peak_capacity.json").read_text())
    for seg in inst["segments"]:
        seg["min_fill_rate"] = 1.0
    for res in inst["resources"]:
        res["capacity"] = res["capacity"] * 0.01
        res["overtime_capacity"] = 0.0
    result = optim.solve(optim.from_dict(inst), SolveParams())
    assert not result.has_solution()
    _check(json.loads(result.to_json()), "result-capacity")


def test_cli_prints_the_schemas(capsys):
    for name in DOCUMENTS:
        assert main(["schema", name]) == 0
        assert json.loads(capsys.readouterr().out) == document_schema(name)
