from __future__ import annotations

import pytest

import optim
from optim.instances.rationing import RationingInstance


@pytest.fixture(scope="session")
def weekly() -> RationingInstance:
    """The bundled weekly example: 2 items, 2 DCs, 3 tiers, minimums; checkable by hand.

    WIDGET (DC1 100, DC2 30): tier 1 (L1 60 at DC1, L2 40 anywhere) is served in full from
    DC1; tier 2 (L3 50 anywhere, L4 30 at DC2 only) shares the 30 left at DC2 at one fill
    rate r: 80 r = 30 → r = 0.375 → L3 18.75, L4 11.25; tier 3 gets nothing.
    GADGET (DC1 50): minimums G1 10 + G2 15 first; tier 1 G1 takes 30; G2 gets its 15 plus
    the 5 left = 20; G3 (tier 3) nothing.
    """
    return optim.load_example("weekly_rationing")
