"""Hypothesis over every loader (issue 12, Correctness): random mutations of valid files never
give exit 1 or a traceback — the answer is the file accepted (exit 0) or one message (exit 2).

Mutations act on the text as the planner would damage it: a line deleted, duplicated (in
JSON, a repeated key) or truncated; a value replaced by text, a boolean, NaN / Infinity,
1e308, -1, an empty cell or a structure; a byte that is not UTF-8 or a NUL. Loaders covered:
the three JSON documents and their YAML forms (safety stock, capacity, rationing), the CSV
folders of rationing and capacity, every file of a planning folder (plan.yaml, history,
orders, items, supply, pins, policy.yaml, receipts, shipments), an order history alone
(``optim segment``), shipped lines alone (``optim review``), a safety-stock result document
(``optim simulate``), forecast overrides and last
week's output folder (``optim plan --previous``: its manifest, the tables and the result
document a comparison reads, each damaged and re-signed so the damage passes the checksum
check and reaches the readers and the comparison).
tests/test_gate.py mutates the documents' structure (keys deleted, types changed).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optim
from optim.cli import main
from optim.errors import InstanceError
from optim.planning.distributor import distributor_example
from optim.planning.folder import read_folder, write_folder
from optim.planning.folder_check import RECORD_FIELDS as _RECORD_FIELDS

DATA = Path(__file__).parents[1] / "instances" / "data"
DOCUMENTS = [DATA / f"{n}.json" for n in ("two_echelon_gsm", "peak_capacity", "weekly_rationing")]
SMALL = {"n_items": 40, "n_customers": 20, "weeks": 56}
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

VALUES = [
    '"-3"', '"60"', "true", "false", "null", "NaN", "Infinity", "-Infinity", "1e308", "-1", "0",
    "1e-320", "9" * 30, "", '""', "[]", "{}", "2099-01-01", "1900-01-01", "abc", "🙂", "True",
    "inf", '"', "*a", "&a x",
]  # fmt: skip
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^,:\s\[\]{}"]+')


def _mutated(data: st.DataObject, text: str) -> bytes:
    """``text`` with one random damage, as bytes."""
    lines = text.split("\n")
    k = data.draw(st.integers(0, len(lines) - 1), label="line")
    op = data.draw(
        st.sampled_from(["delete", "duplicate", "truncate", "replace", "bad byte"]), label="op"
    )
    if op == "delete":
        del lines[k]
    elif op == "duplicate":
        lines.insert(k, lines[k])
    elif op == "truncate":
        lines[k] = lines[k][: data.draw(st.integers(0, len(lines[k])), label="at")]
    elif op == "replace":
        tokens = list(TOKEN.finditer(lines[k]))
        if tokens:
            m = data.draw(st.sampled_from(tokens), label="token")
            value = data.draw(st.sampled_from(VALUES), label="value")
            lines[k] = lines[k][: m.start()] + value + lines[k][m.end() :]
    raw = "\n".join(lines).encode("utf-8")
    if op == "bad byte":
        at = data.draw(st.integers(0, len(raw)), label="at")
        raw = raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xe9", b"\x00"])) + raw[at:]
    return raw


def _exit_0_or_2(capsys, *argv: object) -> None:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("optim"), err


# ----------------------------------------------------------------- documents
@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_documents_text(tmp_path_factory, capsys, data):
    source = data.draw(st.sampled_from(DOCUMENTS), label="document")
    doc = json.loads(source.read_text())
    suffix = data.draw(st.sampled_from([".json", ".yaml"]), label="suffix")
    text = json.dumps(doc, indent=1) if suffix == ".json" else yaml.safe_dump(doc)
    path = tmp_path_factory.mktemp("doc") / f"doc{suffix}"
    path.write_bytes(_mutated(data, text))
    _exit_0_or_2(capsys, "validate", path)


@pytest.fixture(scope="module")
def gsm_result(tmp_path_factory):
    """The GSM example solved: the result document ``optim simulate`` reads."""
    out = tmp_path_factory.mktemp("res") / "result.json"
    assert main(["solve", str(DOCUMENTS[0]), "--out", str(out)]) == 0
    return json.dumps(json.loads(out.read_text()), indent=1)


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_result_document(gsm_result, tmp_path_factory, capsys, data):
    """``optim simulate RESULT``: a damaged result document is simulated or refused."""
    path = tmp_path_factory.mktemp("r") / "result.json"
    path.write_bytes(_mutated(data, gsm_result))
    _exit_0_or_2(capsys, "simulate", path, "--periods", 20, "--replications", 2, "--quiet")


# ----------------------------------------------------------------- CSV instance folders
def _rationing_folder(folder: Path) -> Path:
    doc = optim.load(DATA / "weekly_rationing.json").to_dict()
    folder.mkdir()
    pd.DataFrame(doc["supply"]).to_csv(folder / "supply.csv", index=False)
    pd.DataFrame(doc["segments"]).to_csv(folder / "segments.csv", index=False)
    dem = pd.DataFrame(doc["demand"])
    dem["locations"] = dem["locations"].map(lambda v: ";".join(v) if isinstance(v, list) else "")
    dem.to_csv(folder / "demand.csv", index=False)
    return folder


def _capacity_folder(folder: Path) -> Path:
    """Every file the capacity reader knows: per-period capacity, usage rows, settings."""
    folder.mkdir()
    files = {
        "periods.csv": ["period", "W1", "W2", "W3", "W4"],
        "resources.csv": ["id,capacity,overtime_capacity,overtime_cost", "Assembly,40,5,60",
                          "Packing,30,0,0"],
        "capacity.csv": ["resource,period,capacity", "Assembly,W2,20"],
        "products.csv": ["id,holding_cost,initial_inventory", "A,1,0", "B,0.5,5"],
        "usage.csv": ["product,resource,hours", "A,Assembly,1", "A,Packing,0.5", "B,Assembly,2"],
        "segments.csv": ["name,priority,backlog_cost,lost_sales_cost,max_backlog_periods,"
                         "min_fill_rate", "key,1,5,20,1,0.5", "spot,2,0,8,0,"],
        "demand.csv": ["product,segment,period,quantity", "A,key,W1,10", "B,spot,W2,7",
                       "A,spot,W3,12", "B,key,W4,4"],
        "settings.csv": ["key,value", "objective,cost"],
    }  # fmt: skip
    for name, rows in files.items():
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def csv_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    return [_rationing_folder(root / "rationing"), _capacity_folder(root / "capacity")]


def test_csv_folders_are_valid(csv_folders, capsys):
    for folder in csv_folders:
        assert main(["validate", str(folder)]) == 0
    capsys.readouterr()


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_csv_folders(csv_folders, tmp_path_factory, capsys, data):
    source = data.draw(st.sampled_from(csv_folders), label="folder")
    copy = shutil.copytree(source, tmp_path_factory.mktemp("f") / source.name)
    path = copy / data.draw(st.sampled_from(sorted(p.name for p in copy.iterdir())), label="file")
    path.write_bytes(_mutated(data, path.read_text()))
    _exit_0_or_2(capsys, "validate", copy)


# ----------------------------------------------------------------- planning folders
@pytest.fixture(scope="module")
def planning(tmp_path_factory):
    """The demo's planning folder with every optional file: supply, pins, policy, receipts
    and shipments, and plan.yaml's optional keys."""
    from optim.segmentation import default_policy

    folder = write_folder(distributor_example(5, **SMALL), tmp_path_factory.mktemp("p") / "in")
    orders = pd.read_csv(folder / "orders.csv", dtype=str)
    pairs = orders[["item", "location"]].drop_duplicates().itertuples(index=False)
    supply = "".join(f"{i},{loc},{10 + k}\n" for k, (i, loc) in enumerate(pairs))
    (folder / "supply.csv").write_text("item,location,quantity\n" + supply)
    (folder / "pins.csv").write_text(f"customer,segment\n{orders['customer'].iloc[0]},strategic\n")
    policy = yaml.safe_dump(default_policy().model_dump(mode="json"), sort_keys=False)
    (folder / "policy.yaml").write_text(policy)
    rows = ["lane,order_date,receipt_date,quantity"]
    for w in range(12):
        day = pd.Timestamp("2024-03-04") + pd.Timedelta(weeks=w)
        for lane, lead in (("Plant", 13 + w % 3), ("DC-North", 6 + w % 2)):
            rows.append(f"{lane},{day.date()},{(day + pd.Timedelta(days=lead)).date()},40")
    (folder / "receipts.csv").write_text("\n".join(rows) + "\n")
    history = pd.read_csv(folder / "history.csv", dtype=str).tail(12)
    shipped = ["customer,item,date,quantity,shipped_quantity,ship_date"]
    for r in history.itertuples():
        shipped.append(f"{r.customer},{r.item},{r.date},{r.quantity},{r.quantity},{r.date}")
    (folder / "shipments.csv").write_text("\n".join(shipped) + "\n")
    plan = (folder / "plan.yaml").read_text()
    assert "currency: EUR" in plan and "units: pcs" in plan  # the example states both
    with (folder / "plan.yaml").open("a") as fh:  # the optional keys, mutated like the rest
        fh.write("forecast: seasonal_naive\n")
    return folder


def test_planning_folder_with_every_file_is_valid(planning, capsys):
    assert main(["validate", str(planning)]) == 0
    capsys.readouterr()


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_planning_folder_files(planning, tmp_path_factory, capsys, data):
    copy = shutil.copytree(planning, tmp_path_factory.mktemp("m") / "f")
    name = data.draw(st.sampled_from(sorted(p.name for p in copy.iterdir())), label="file")
    lines = (copy / name).read_text().split("\n")
    # history.csv: the damage lands in its first 40 of 4,000 lines, the rest stays
    head, tail = ("\n".join(lines[:40]), "\n".join(lines[40:])) if len(lines) > 40 else ("", "")
    text = head if head else "\n".join(lines)
    (copy / name).write_bytes(_mutated(data, text) + (b"\n" + tail.encode() if head else b""))
    _exit_0_or_2(capsys, "validate", copy)


# ----------------------------------------------------------------- files read alone
@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_history_and_shipments(planning, tmp_path_factory, capsys, data):
    name = data.draw(st.sampled_from(["history.csv", "shipments.csv"]), label="file")
    text = (planning / name).read_text()
    if name == "history.csv":
        text = "\n".join([*text.split("\n")[:30], ""])
    path = tmp_path_factory.mktemp("h") / name
    path.write_bytes(_mutated(data, text))
    _exit_0_or_2(capsys, "segment" if name == "history.csv" else "review", path)


WEEKS = np.array(["2025-01-06", "2025-01-13", "2025-01-20"], dtype=object)
OVERRIDES = "item,week,forecast\nI1,2025-01-06,5\nI2,2025-01-13,7\n"


def _forecast() -> pd.DataFrame:
    items, weeks = np.repeat(["I1", "I2"], 3), np.tile(WEEKS, 2)
    return pd.DataFrame(
        {"item": items, "week": weeks, "forecast": 4.0, "lo": 1.0, "hi": 8.0, "method": "ets"}
    )


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_overrides(tmp_path_factory, data):
    from optim.forecasting.overrides import apply_overrides

    path = tmp_path_factory.mktemp("o") / "forecast_overrides.csv"
    path.write_bytes(_mutated(data, OVERRIDES))
    try:
        out, n = apply_overrides(_forecast(), path, ["item"], WEEKS)
    except InstanceError as exc:
        assert "forecast_overrides.csv" in str(exc)
    else:
        assert 0 <= n <= 3 and (out["forecast"] >= 0).all() and np.isfinite(out["forecast"]).all()


# ----------------------------------------------------------------- last week's output folder
@pytest.fixture(scope="module")
def previous_output(tmp_path_factory):
    """A small planning run and its written output folder (``--previous`` of the next)."""
    from optim import planning

    run = planning.run(distributor_example(5, **SMALL))
    out = tmp_path_factory.mktemp("prev") / "out"
    planning.write(run, out, report=False)
    return run, out


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_mutated_previous_output(previous_output, tmp_path_factory, data):
    """``--previous DIR``: a damaged file of last week's folder is refused naming the folder
    (InstanceError: exit 2) or read, and then compared with this run without an error."""
    import hashlib

    from optim.output import MANIFEST
    from optim.planning.compare import REQUIRED, RESULT, alerts, compare, read_previous

    run, out = previous_output
    copy = shutil.copytree(out, tmp_path_factory.mktemp("p") / "out")
    name = data.draw(st.sampled_from([MANIFEST, RESULT, *REQUIRED]), label="file")
    lines = (copy / name).read_text().split("\n")
    head, tail = ("\n".join(lines[:40]), "\n".join(lines[40:])) if len(lines) > 40 else ("", "")
    text = head if head else "\n".join(lines)
    raw = _mutated(data, text) + (b"\n" + tail.encode() if head else b"")
    (copy / name).write_bytes(raw)
    if name != MANIFEST:  # re-signed: the damage reaches the readers, not only the checksum
        manifest = json.loads((copy / MANIFEST).read_text())
        manifest["files"][name] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        (copy / MANIFEST).write_text(json.dumps(manifest, indent=1))
    try:
        previous = read_previous(copy)
    except InstanceError as exc:
        assert str(copy) in str(exc) and "--previous" in str(exc), exc
        return
    tables = compare(run, previous)
    alerts(tables)


def test_previous_result_whose_instance_lost_a_stage_id_is_refused(previous_output, tmp_path):
    """(dev profile: the line '"id": ...' of the result's first stage deleted) compare read
    the carried instance's records by key: KeyError 'id', exit 1. Now its instance passes
    the loader: refused naming the folder."""
    import hashlib

    from optim.output import MANIFEST
    from optim.planning.compare import RESULT, read_previous

    _, out = previous_output
    copy = shutil.copytree(out, tmp_path / "out")
    doc = json.loads((copy / RESULT).read_text())
    del doc["instance"]["stages"][0]["id"]
    raw = json.dumps(doc, indent=1).encode()
    (copy / RESULT).write_bytes(raw)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["files"][RESULT] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    (copy / MANIFEST).write_text(json.dumps(manifest, indent=1))
    with pytest.raises(InstanceError) as err:
        read_previous(copy)
    assert str(copy) in str(err.value) and "stages[0]" in str(err.value), err.value


# ----------------------------------------------------------------- validate without pandas
PLAIN_FILES = ["plan.yaml", "history.csv", "orders.csv", "items.csv"]


@pytest.fixture(scope="module")
def plain_planning(tmp_path_factory):
    """The demo's planning folder with the four required files, which `optim validate`
    checks without pandas (optim.planning.folder_check); its last 40 weeks of history and
    the seasonal naïve forecast, so both of the notes it can give are given."""
    folder = write_folder(distributor_example(5, **SMALL), tmp_path_factory.mktemp("p") / "in")
    header, *lines = (folder / "history.csv").read_text().splitlines()
    cut = str((pd.Timestamp(max(v[:10] for v in lines)) - pd.Timedelta(weeks=40)).date())
    (folder / "history.csv").write_text("\n".join([header, *(v for v in lines if v >= cut)]))
    with (folder / "plan.yaml").open("a") as fh:
        fh.write("forecast: seasonal_naive\n")
    return folder


def test_the_plain_folder_is_validated_without_pandas_with_read_folders_summary(plain_planning):
    from optim.planning.folder_check import plain_summary, read_summary

    plain = plain_summary(plain_planning)
    assert plain is not None  # the mutation test below compares something
    assert plain == read_summary(plain_planning)
    assert [n.split(":")[0] for n in plain.notes] == ["forecast", "items"]


@pytest.mark.parametrize("block", [1, 997, 1 << 30])
def test_the_plain_path_reads_the_files_in_blocks_of_any_size(plain_planning, block):
    """Blocks of one line each, of ~1 KB (returns and demand in different blocks) and the
    whole file give the same summary (optim.planning.folder_check.BLOCK_CHARS)."""
    from unittest import mock

    from optim.planning import folder_check

    with mock.patch.object(folder_check, "BLOCK_CHARS", block):
        assert folder_check.plain_summary(plain_planning) == folder_check.read_summary(
            plain_planning
        )


def test_order_lines_that_net_to_zero_in_pandas_are_not_accepted_plainly(plain_planning, tmp_path):
    """Two order lines of one customer, item and location, 111964427.506162251996 and
    -111964427.50616224: pandas reads both as the same double and nets them to 0 (no open
    order: refused); float() read the first one ulp higher, the plain path summed 1.5e-8 and
    passed the folder (second review). The plain path now decides on signs."""
    from optim.planning.folder_check import plain_summary

    copy = shutil.copytree(plain_planning, tmp_path / "net")
    header, first, *_ = (copy / "orders.csv").read_text().splitlines()
    cells = first.split(",")
    q = header.split(",").index("quantity")
    lines = []
    for value in ("111964427.506162251996", "-111964427.50616224"):
        cells[q] = value
        lines.append(",".join(cells))
    (copy / "orders.csv").write_text("\n".join([header, *lines]) + "\n")
    with pytest.raises(InstanceError, match="no open order"):
        read_folder(copy)
    assert plain_summary(copy) is None


def test_windows_line_ends_keep_the_plain_path(plain_planning, tmp_path):
    """CSV files saved with \\r\\n line ends are read alike by both paths; a lone \\r
    leaves the folder to read_folder."""
    from optim.planning.folder_check import plain_summary, read_summary

    copy = shutil.copytree(plain_planning, tmp_path / "crlf")
    for name in ("history.csv", "orders.csv", "items.csv"):
        (copy / name).write_bytes((copy / name).read_bytes().replace(b"\n", b"\r\n"))
    assert plain_summary(copy) == read_summary(copy) == plain_summary(plain_planning)
    items = (copy / "items.csv").read_bytes()
    (copy / "items.csv").write_bytes(items.replace(b"\r\n", b"\r", 1))
    assert plain_summary(copy) is None


_VALUES = st.one_of(
    st.sampled_from([0, 1, 1.0, 0.5, 2, 1e11, 1e11 + 1, -1, True, None, "", " a", "a", "3"]),
    st.integers(-3, 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dictionaries(st.sampled_from(["R", " R", "", "S"]), st.sampled_from([0, 2.5, -1, "1"])),
    st.lists(st.integers(0, 3), max_size=2),
)


@st.composite
def _records(draw: st.DrawFn) -> tuple[str, dict]:
    """A record of a kind: its own fields mostly (each valid or not), now and then one of
    another kind or none the models know."""
    kind = draw(st.sampled_from(sorted(_RECORD_FIELDS)))
    required, optional = _RECORD_FIELDS[kind]
    valid = {"id": "S", "source": "A", "target": "B", "usage": {"R": 2.5}}
    rec = {f: valid.get(f, 1) for f in required}
    fields = sorted(required | optional)
    others = ["lead_time_std_dev", "routings", "extra", "quantity", "capacity"]
    for field in draw(st.lists(st.sampled_from(fields + others), max_size=4)):
        rec[field] = draw(_VALUES)
    for field in draw(st.sets(st.sampled_from(sorted(required)))):
        if draw(st.booleans()):
            del rec[field]
    return kind, rec


@settings(deadline=None, max_examples=1000)  # (cheap; 300 missed an arc's int quantity)
@given(record=_records())
def test_plain_plan_records_are_a_part_of_what_the_models_accept(record):
    """A stage, arc, resource or family record that `optim validate`'s plain path takes
    (folder_check.PlainRecords, without pydantic) the instance models take too, with the
    same values of the fields the plan check reads; it names the same poolings."""
    from optim.instances.safety_stock import POOLINGS
    from optim.planning.folder import ModelRecords
    from optim.planning.folder_check import PlainRecords, _Unsure

    kind, rec = record
    assert PlainRecords.poolings == POOLINGS
    try:
        plain = PlainRecords()(kind, rec)
    except _Unsure:
        return
    model = ModelRecords()(kind, rec)  # raises when the plain path took what it refuses
    for name in ("id", "lead_time", "external_service_time", "source", "target", "quantity"):
        if hasattr(model, name):
            assert getattr(plain, name) == getattr(model, name), name
            assert type(getattr(plain, name)) is type(getattr(model, name)), name


def _validate(capsys, folder: Path, *, plain: bool) -> tuple[int, str, str]:
    """`optim validate FOLDER`, with the plain path or, as before it, read_folder alone."""
    from unittest import mock

    from optim.planning import folder_check

    with mock.patch.object(
        folder_check, "plain_summary", folder_check.plain_summary if plain else lambda f: None
    ):
        code = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    return code, out, err


@settings(deadline=None, suppress_health_check=FIXTURES)
@given(data=st.data())
def test_validate_without_pandas_agrees_with_read_folder(
    plain_planning, tmp_path_factory, capsys, data
):
    """Random damage to a planning folder gives `optim validate` the outcome read_folder
    gives it — the same exit code, message, summary and notes — and the plain path accepts
    only folders read_folder accepts, with its summary (issue 12: validate without pandas
    drops no check)."""
    from unittest import mock

    from optim.planning import folder_check
    from optim.planning.folder_check import plain_summary, read_summary

    copy = shutil.copytree(plain_planning, tmp_path_factory.mktemp("m") / "f")
    name = data.draw(st.sampled_from(PLAIN_FILES), label="file")
    lines = (copy / name).read_text().split("\n")
    at = data.draw(st.integers(0, max(0, len(lines) - 40)), label="window")  # 40 lines of it
    head, tail = "\n".join(lines[:at]), "\n".join(lines[at + 40 :])
    damaged = _mutated(data, "\n".join(lines[at : at + 40]))
    (copy / name).write_bytes(
        (head + "\n" if at else "").encode() + damaged + (b"\n" + tail.encode() if tail else b"")
    )
    try:
        expected: object = read_summary(copy)
    except InstanceError as exc:
        expected = exc
    # the plain path splits the CSV text a block of lines at a time: small blocks put the
    # damage, the returns and the rows that prove demand in different blocks
    block = data.draw(st.sampled_from([folder_check.BLOCK_CHARS, 997]), label="block")
    with mock.patch.object(folder_check, "BLOCK_CHARS", block):
        plain = plain_summary(copy)
        assert plain is None or plain == expected
        assert _validate(capsys, copy, plain=True) == _validate(capsys, copy, plain=False)
