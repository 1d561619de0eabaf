"""The OpenAPI document is pinned: a change to the HTTP API must show up in this diff.

``openapi.json`` beside this file is the document of the API as released (the version
replaced); regenerate it deliberately (see :func:`_document`) when the API is meant to change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optim.service.app import ServiceConfig, create_app

PINNED = Path(__file__).with_name("openapi.json")


def _document(tmp_path: Path) -> dict[str, Any]:
    app = create_app(ServiceConfig(store=tmp_path / "jobs.db", no_auth=True))
    doc = json.loads(json.dumps(app.openapi()))  # plain JSON types, as /openapi.json serves
    doc["info"]["version"] = "(the installed version)"
    return doc


def test_openapi_document_is_the_pinned_one(tmp_path: Path) -> None:
    assert _document(tmp_path) == json.loads(PINNED.read_text(encoding="utf-8"))


def test_jobs_and_solve_take_the_same_query_parameters(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    jobs, solve = paths["/v1/jobs"]["post"]["parameters"], paths["/v1/solve"]["post"]["parameters"]
    assert jobs == solve
    assert [p["name"] for p in jobs] == ["time_limit", "solver", "method", "mip_gap"]
