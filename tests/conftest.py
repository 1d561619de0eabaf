"""Session fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI-sized property runs; deterministic so a failure reproduces.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Literature tests skip without ``../shared/data`` on a developer's machine; in CI a
    missing folder fails the run instead of silently skipping them."""
    if os.environ.get("CI") and not SHARED_DATA.is_dir():
        raise pytest.UsageError(
            f"CI=true but the benchmark data is missing at {SHARED_DATA} (../shared/data beside "
            "the clone); the Willems and literature GSM tests must not be skipped silently."
        )


@pytest.fixture()
def split_pieces(monkeypatch) -> list[int]:
    """The number of pieces each split rationing run cut its folder into (the real split
    still runs; :mod:`optim.split`)."""
    from optim import split

    counts: list[int] = []
    real = split._pieces

    def spy(keys, piece_lines):
        out = real(keys, piece_lines)
        counts.append(len(out[2]))
        return out

    monkeypatch.setattr(split, "_pieces", spy)
    return counts


@pytest.fixture(scope="module")
def dask_cluster():
    """A real Dask scheduler and two worker processes on loopback (per test module)."""
    distributed = pytest.importorskip("distributed")
    from optim import executor

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # loopback only, any free port
        silence_logs=40,
    ) as cluster:
        yield cluster.scheduler_address
        executor.disconnect(cluster.scheduler_address)


@pytest.fixture()
def peak_capacity_folder(tmp_path):
    """instances/data/peak_capacity.json as a capacity CSV folder (optimum 55, by hand)."""
    folder = tmp_path / "peak"
    folder.mkdir()
    files = {
        "periods.csv": "period\nW1\nW2\nW3\n",
        "resources.csv": "id,capacity\nline,10\n",
        "products.csv": "id,holding_cost,usage_line\nA,1,1\n",
        "segments.csv": "name,priority,backlog_cost,lost_sales_cost,max_backlog_periods\n"
        "key,1,5,20,1\nspot,2,0,8,0\n",
        "demand.csv": "product,segment,period,quantity\nA,key,W3,15\nA,spot,W1,5\n"
        "A,spot,W2,5\nA,spot,W3,10\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder
