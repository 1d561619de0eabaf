"""Configuration of a segmentation run: thresholds, stability, customer rules, policy.

Everything is a frozen pydantic model so a run is fully described by its config, which can
be read from YAML (:meth:`SegmentationConfig.from_yaml`) and is echoed into the result.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import Field, field_validator, model_validator

from optim.errors import InstanceError
from optim.instances.base import Document, Frozen
from optim.segmentation.policy import PolicyTable, default_policy, read_yaml_mapping, with_file

__all__ = ["ABC_LABELS", "XYZ_LABELS", "CustomerRule", "SegmentationConfig"]

ABC_LABELS = ("A", "B", "C")
XYZ_LABELS = ("X", "Y", "Z")


class CustomerRule(Frozen):
    """One customer rule: a customer matching every given condition gets ``segment``.

    All conditions are "at least" conditions (loosening a threshold never removes a
    customer), which is what lets the stability margin work on rules (see
    :mod:`optim.segmentation.stability`). Omitted conditions always hold.

    Attributes
    ----------
    segment
        Segment assigned on a match.
    top_value_share
        The customer is among the largest customers that together make up this share of
        total value: its cumulative value share *before* it is ``< top_value_share`` (the
        same convention as ABC, so the customer that reaches the share exactly is in).
    min_orders_per_period
        Orders per period (distinct order ids, or distinct order dates) ``>=`` this.
    min_value
        Total value (revenue or margin) ``>=`` this.
    channels
        The customer's channel is one of these.
    """

    segment: str
    top_value_share: float | None = Field(default=None, gt=0.0, le=1.0)
    min_orders_per_period: float | None = Field(default=None, ge=0.0)
    min_value: float | None = Field(default=None, ge=0.0)
    channels: tuple[str, ...] | None = None

    @field_validator("channels")
    @classmethod
    def _some_channel(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and not v:  # (channels: [] selected nobody, without a word)
            raise ValueError(
                "channels is empty, so the rule selects nobody; allowed: at least one channel "
                "(omit channels for any channel)"
            )
        return v


def _default_rules() -> tuple[CustomerRule, ...]:
    return (
        CustomerRule(segment="strategic", top_value_share=0.5, min_orders_per_period=0.5),
        CustomerRule(segment="standard", top_value_share=0.9),
        CustomerRule(segment="standard", min_orders_per_period=1.0),
    )


class SegmentationConfig(Document):
    """Thresholds, stability rules, customer rules and the policy table of a run.

    Attributes
    ----------
    period
        Pandas period alias of the demand buckets (``"W"`` weeks ending Sunday, ``"D"``,
        ``"M"``, ...).
    value_basis
        ABC and customer value on ``"revenue"`` or ``"margin"``.
    abc_thresholds
        Cumulative value shares closing A and B (default 80 % / 95 %). Convention: an item
        is A when the cumulative share of the items ranked before it is below 80 %, so the
        item whose cumulative share reaches exactly 80 % is A and the next one is B.
    xyz_thresholds
        CV of periodic demand closing X and Y (default 0.5 / 1.0); a CV exactly at a
        threshold stays in the lower (steadier) class.
    adi_threshold, cv2_threshold
        Syntetos–Boylan cut-offs (ADI 1.32, CV² 0.49). ``ADI >= 1.32`` flags an item as
        intermittent; with ``CV² >= 0.49`` as well it is lumpy.
    margin
        Relative half-width of the dead band around every threshold: a class changes at
        once only when its metric is beyond ``t·(1 ± margin)``. 0 disables the band.
    consecutive_runs
        N: a class also changes when the raw class has differed from the held one for N
        consecutive runs (N = 1: change at once).
    returns
        Negative quantity lines (returns, cancellations): ``"net"`` (default) subtracts them
        from the same item/customer/location/period demand, floored at zero; ``"exclude"``
        drops them; ``"reject"`` raises :class:`~optim.errors.InstanceError`.
    customer_segments
        Customer segments from most to least important.
    customer_rules
        Rules tried in order; the first match wins. Segments must be non-increasing in
        importance along the list and at least as important as ``default_segment`` (this
        keeps the rules monotone, which the stability band relies on).
    default_segment
        Segment of a customer matching no rule.
    policy
        Policy table; defaults to the packaged ``default_policy.yaml``.
    """

    period: str = "W"
    value_basis: Literal["revenue", "margin"] = "revenue"
    abc_thresholds: tuple[float, float] = (0.80, 0.95)
    xyz_thresholds: tuple[float, float] = (0.5, 1.0)
    adi_threshold: float = Field(default=1.32, gt=1.0)
    cv2_threshold: float = Field(default=0.49, gt=0.0)
    margin: float = Field(default=0.05, ge=0.0, lt=1.0)
    consecutive_runs: int = Field(default=3, ge=1)
    returns: Literal["net", "exclude", "reject"] = "net"
    customer_segments: tuple[str, ...] = ("strategic", "standard", "transactional")
    customer_rules: tuple[CustomerRule, ...] = Field(default_factory=_default_rules)
    default_segment: str = "transactional"
    policy: PolicyTable = Field(default_factory=default_policy)

    @field_validator("period")
    @classmethod
    def _period_alias(cls, v: str) -> str:
        try:
            step = pd.Period("2024-01-01", freq=v).freq.n
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"period {v!r} is not a pandas period alias (e.g. 'W', 'D', 'M')"
            ) from exc
        with warnings.catch_warnings():  # ('M' is a deprecated offset alias to pandas)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                offset = pd.tseries.frequencies.to_offset(v)
            except (ValueError, TypeError):
                offset = None  # a calendar period only ('M', 'Q', 'Y'): a day or longer
        if isinstance(offset, pd.offsets.Tick) and pd.Timedelta(offset) < pd.Timedelta(days=1):
            # 'ms' built periods for every millisecond of the history (MemoryError, exit 1)
            raise ValueError(
                f"period {v!r} is shorter than a day; allowed: a day or longer (D, W, M, Q, Y)"
            )
        if step != 1:
            # '2W' bucketed each date into a two-week period starting at its own week: the
            # periods overlapped, an item had 104 "nonzero periods" of about 52 and its class
            # and CV were nonsense (numpy warned of a negative sqrt), exit 0
            raise ValueError(
                f"period {v!r} is a multiple ({step} units); allowed: one calendar unit (D, W "
                "or W-MON … W-SUN, M, Q, Y)"
            )
        return v

    @field_validator("abc_thresholds")
    @classmethod
    def _abc(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < v[0] < v[1] <= 1.0:
            raise ValueError(f"abc_thresholds {v} must satisfy 0 < A < B <= 1")
        return v

    @field_validator("xyz_thresholds")
    @classmethod
    def _xyz(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < v[0] < v[1]:
            raise ValueError(f"xyz_thresholds {v} must satisfy 0 < X < Y")
        return v

    @model_validator(mode="after")
    def _segments_consistent(self) -> SegmentationConfig:
        known = self.customer_segments
        if len(set(known)) != len(known):
            raise ValueError(f"customer_segments {known} has duplicates")
        # (each error names its field, so the config file's line is found: it named none)
        if self.default_segment not in known:
            raise InstanceError(
                f"default_segment {self.default_segment!r} is not a customer segment; allowed: "
                f"{', '.join(known)}",
                field="default_segment",
            )
        rank = -1
        default_rank = known.index(self.default_segment)
        for i, rule in enumerate(self.customer_rules):
            at = f"customer_rules[{i}].segment"
            if rule.segment not in known:
                raise InstanceError(
                    f"{at} {rule.segment!r} is not a customer segment; allowed: "
                    f"{', '.join(known)}",
                    field=at,
                )
            if known.index(rule.segment) < rank:
                raise InstanceError(
                    f"customer_rules[{i}] ({rule.segment!r}) comes after a rule for a less "
                    f"important segment; order rules by {known}",
                    field=at,
                )
            rank = known.index(rule.segment)
            if rank > default_rank:
                raise InstanceError(
                    f"customer_rules[{i}] ({rule.segment!r}) is less important than "
                    f"default_segment {self.default_segment!r}; rules can only raise a customer",
                    field=at,
                )
        missing = [s for s in (*known, *ABC_LABELS) if s not in self.policy.segments]
        if missing:
            raise ValueError(
                f"policy has no row for segment(s) {', '.join(missing)}; allowed: a policy "
                f"row for every segment ({', '.join((*known, *ABC_LABELS))})"
            )
        return self

    @classmethod
    def from_yaml(cls, source: str | Path) -> SegmentationConfig:
        """Read a config from YAML; ``policy`` may be inline or a path relative to the file."""
        path = Path(source)
        data = read_yaml_mapping(path, "config")
        if isinstance(data.get("policy"), str):
            data["policy"] = PolicyTable.from_yaml(path.parent / data["policy"])
        return with_file(path, lambda: cls.model_validate(data))

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml` reads back to an equal config."""
        # the gate's writer quotes what its reader (YAML 1.2 values) would not read as text
        from optim.instances.gate import GateDumper

        return yaml.dump(self.model_dump(mode="json"), Dumper=GateDumper, sort_keys=False)
