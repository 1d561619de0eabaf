"""Customer and item segmentation → segment policy (the customer-centric analytics core).

From order lines (date, customer, item, quantity, price or revenue; optional channel,
location, cost or margin) :func:`segment` derives

* item classes: ABC on value, XYZ on the CV of periodic demand, the Syntetos–Boylan
  intermittency flag and pattern (:mod:`.items`);
* customer segments (strategic / standard / transactional) from configurable rules on
  value, order frequency and channel, with manual pins (:mod:`.customers`);
* stable assignments across reruns: a margin band around every threshold plus an
  N-consecutive-runs rule, with every change listed and explained (:mod:`.stability`);
* the policy table segment → service level, service time, rationing tier and fair-share
  rule, forecasting approach, review frequency (:mod:`.policy`, editable YAML);
* per-period demand statistics per item × segment × location, zeros counted (:mod:`.stats`).

The builders that turn a segmentation into optimiser instances live with the planning
product, :mod:`optim.planning.builders`.

>>> from optim.instances.generators.history import generate_history
>>> from optim.segmentation import segment
>>> seg = segment(generate_history(seed=1, n_items=30, n_customers=12, weeks=20))
>>> sorted(seg.items["abc"].unique())
['A', 'B', 'C']
"""

from optim.segmentation.config import CustomerRule as CustomerRule
from optim.segmentation.config import SegmentationConfig as SegmentationConfig
from optim.segmentation.core import segment as segment
from optim.segmentation.history import History as History
from optim.segmentation.history import prepare_history as prepare_history
from optim.segmentation.policy import PolicyRow as PolicyRow
from optim.segmentation.policy import PolicyTable as PolicyTable
from optim.segmentation.policy import default_policy as default_policy
from optim.segmentation.result import Segmentation as Segmentation

__all__ = [
    "CustomerRule",
    "History",
    "PolicyRow",
    "PolicyTable",
    "Segmentation",
    "SegmentationConfig",
    "default_policy",
    "prepare_history",
    "segment",
]
