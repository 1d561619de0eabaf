"""Session fixtures shared by every test module."""

from __future__ import annotations

import os

from hypothesis import settings

# CI-sized property runs; deterministic so a failure reproduces.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
