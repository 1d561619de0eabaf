"""The server of the service tests (a real `optim serve` subprocess), shared by the test
modules of one pytest process: starting it (two warm workers) is the costly part."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _serve import Server, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("serve"), "--workers", "2", "--max-body", "4")
    yield srv
    stop_server(srv)
