"""The fair-share rules of rationing, defined once and light to import.

The instance schema (:mod:`optim.instances.rationing`), its JSON Schema, the segment policy
table and the solve's rule codes (:class:`optim.models.rationing.arrays.Rule`: the position in
:data:`FAIR_SHARES`) all read them here; the solve's worker processes import this module
without pandas or the schema.
"""

from __future__ import annotations

from typing import Literal, get_args

FairShare = Literal["proportional", "equal", "weighted"]
FAIR_SHARES: tuple[str, ...] = get_args(FairShare)
