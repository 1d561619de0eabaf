"""The frozen result of :func:`optim.segmentation.segment` and its serialisation.

:meth:`Segmentation.to_frames` / :meth:`Segmentation.from_frames` and
:meth:`Segmentation.to_json` / :meth:`Segmentation.from_json` round-trip the tables, so a
run's output (or its saved copy) is the ``previous`` of the next run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optim.errors import InstanceError
from optim.segmentation.config import SegmentationConfig
from optim.segmentation.history import History
from optim.segmentation.policy import ITEM_POLICY_COLUMNS
from optim.segmentation.stats import period_stats

__all__ = ["CHANGE_COLUMNS", "CUSTOMER_COLUMNS", "ITEM_COLUMNS", "Segmentation"]

ITEM_COLUMNS = [
    "item",
    "value",
    "share",
    "cum_share",
    "abc",
    "cv",
    "xyz",
    "adi",
    "cv2",
    "intermittent",
    "pattern",
    "class",
    "changed",
    "reason",
    # statistics and stability state (fed back through `previous`)
    "cum_share_before",
    "mean",
    "std",
    "nonzero_periods",
    "abc_raw",
    "abc_runs",
    "xyz_raw",
    "xyz_runs",
    "intermittent_raw",
    "intermittent_runs",
]
CUSTOMER_COLUMNS = [
    "customer",
    "value",
    "orders_per_period",
    "channel",
    "segment",
    "pinned",
    "changed",
    "reason",
    "share",
    "cum_share",
    "cum_share_before",
    "orders",
    "segment_raw",
    "segment_runs",
]
CHANGE_COLUMNS = ["kind", "id", "dimension", "previous", "current", "reason"]


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Result of :func:`segment`.

    Attributes
    ----------
    items
        One row per item in ABC rank order: ``item, value, share, cum_share, abc, cv, xyz,
        adi, cv2, intermittent, pattern, class, changed, reason`` followed by statistics and
        the stability state (``*_raw`` classes of this run, ``*_runs`` counters).
        ``class`` is ABC + XYZ (e.g. ``"AX"``); ``pattern`` is the Syntetos–Boylan
        pattern (smooth, erratic, intermittent, lumpy; ``none`` without demand).
    customers
        One row per customer in value rank order: ``customer, value, orders_per_period,
        channel, segment, pinned, changed, reason`` followed by shares and state.
    changes
        Every class change against ``previous`` (``kind, id, dimension, previous, current,
        reason``), new and dropped ids included; empty on a first run.
    policy
        Policy table, one row per segment (see :mod:`optim.segmentation.policy`).
    config
        The configuration used.
    info
        Run facts: run number, periods, value basis, returns report, class counts.
    history
        Validated history (needed by :meth:`demand_stats`); ``None`` when rebuilt from
        frames without a ``demand`` table.
    """

    items: pd.DataFrame
    customers: pd.DataFrame
    changes: pd.DataFrame
    policy: pd.DataFrame
    config: SegmentationConfig = field(default_factory=SegmentationConfig)
    info: dict[str, Any] = field(default_factory=dict)
    history: History | None = field(default=None, repr=False)

    def demand_stats(
        self, by: Sequence[str] = ("item", "segment", "location"), *, ddof: int = 1
    ) -> pd.DataFrame:
        """Per-period demand mean and standard deviation, zeros counted (see :mod:`.stats`).

        Parameters
        ----------
        by
            Grouping columns, any of ``item, segment, location, customer, channel, abc,
            xyz, class``; ``segment`` is the (stabilised) customer segment.
        ddof
            Delta degrees of freedom of the standard deviation (default 1: sample).

        Returns
        -------
        DataFrame
            ``by`` columns, ``periods, nonzero_periods, total, mean, std, cv``; when ``by``
            holds both ``item`` and ``segment`` also the combined policy targets of the
            cell: ``service_level, max_service_time_days, rationing_tier, fair_share,
            service_measure`` (the item's demand pattern applied).
        """
        if self.history is None:
            raise InstanceError(
                "this Segmentation has no demand history (rebuilt without a 'demand' "
                "table); rerun segment() to get demand statistics.",
                field="history",
            )
        allowed = ("item", "segment", "location", "customer", "channel", "abc", "xyz", "class")
        keys = list(by)
        bad = [k for k in keys if k not in allowed]
        if bad or not keys or len(set(keys)) != len(keys):
            raise InstanceError(
                f"demand_stats by={keys} is not allowed; use distinct columns of {allowed}.",
                field="by",
            )
        demand = self.history.demand
        cust = self.customers.set_index("customer")
        item = self.items.set_index("item")
        frame = demand[["item", "customer", "location", "period", "quantity"]].copy()
        for col, src, key in (
            ("segment", cust, "customer"),
            ("channel", cust, "customer"),
            ("abc", item, "item"),
            ("xyz", item, "item"),
            ("class", item, "item"),
        ):
            if col in keys:
                frame[col] = src[col].reindex(frame[key]).to_numpy()
        out = period_stats(frame, len(self.history.periods), keys, ddof=ddof)
        if "item" in keys and "segment" in keys:
            table = self.config.policy
            pairs = out[["item", "segment"]].assign(
                abc=item["abc"].reindex(out["item"]).values,
                pattern=item["pattern"].reindex(out["item"]).values,
            )[["abc", "segment", "pattern"]]
            cells = {
                key: table.combine_rows(*key)
                for key in pairs.drop_duplicates().itertuples(index=False, name=None)
            }
            columns = ("service_level", "max_service_time_days", "rationing_tier", "fair_share",
                       "service_measure")  # fmt: skip
            keys_of = list(pairs.itertuples(index=False, name=None))
            for col in columns:
                out[col] = [cells[k][col] for k in keys_of]
        return out

    def item_policy(self) -> pd.DataFrame:
        """Policy per item: its ABC class row with its demand pattern's overrides.

        Returns
        -------
        DataFrame
            Columns :data:`~optim.segmentation.policy.ITEM_POLICY_COLUMNS`, one row per item
            in the order of :attr:`items`: ``service_level`` and ``max_service_time_days``
            of the item's ABC row; ``forecasting`` and ``review_frequency`` from the row,
            overridden for intermittent / lumpy (or any listed) patterns.
        """
        table = self.config.policy
        rows = {
            key: table.item_row(*key)
            for key in self.items[["abc", "pattern"]]
            .drop_duplicates()
            .itertuples(index=False, name=None)
        }
        cells = [
            rows[k] for k in self.items[["abc", "pattern"]].itertuples(index=False, name=None)
        ]
        out = self.items[["item", "abc", "xyz", "pattern"]].reset_index(drop=True)
        for col in ITEM_POLICY_COLUMNS[4:]:
            out[col] = [r.measure if col == "service_measure" else getattr(r, col) for r in cells]
        return out

    def summary(self) -> str:
        """A few lines for a terminal: run, horizon, class counts, changes, returns."""
        info = self.info
        counts = info.get("counts", {})
        periods = info.get("periods", {})
        returns = info.get("returns", {})

        def fmt(d: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in d.items())

        lines = [
            f"segmentation run {info.get('run', '?')}: {len(self.items)} items, "
            f"{len(self.customers)} customers, {periods.get('n', '?')} periods "
            f"({info.get('period', '?')}) {periods.get('first', '?')}..{periods.get('last', '?')}",
            f"  value basis   {info.get('value_basis', '?')}",
            f"  ABC           {fmt(counts.get('abc', {}))}",
            f"  XYZ           {fmt(counts.get('xyz', {}))}",
            f"  intermittent  {counts.get('intermittent', '?')}",
            f"  segments      {fmt(counts.get('segment', {}))}",
            f"  pinned        {int(self.customers['pinned'].sum())}"
            if "pinned" in self.customers
            else "  pinned        ?",
            f"  changes       {len(self.changes)}",
            f"  returns       {returns.get('policy', '?')}: {returns.get('negative_lines', 0)} "
            f"negative lines, quantity {returns.get('negative_quantity', 0):g}, "
            f"{returns.get('floored_cells', 0)} cell(s) floored at zero",
        ]
        return "\n".join(lines)

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Tables ``items, customers, changes, policy, info`` (+ ``demand`` when held)."""
        frames = {
            "items": self.items,
            "customers": self.customers,
            "changes": self.changes,
            "policy": self.policy,
            "info": pd.DataFrame(
                {
                    "key": ["info", "config"],
                    "value": [
                        json.dumps(self.info, sort_keys=True),
                        self.config.model_dump_json(),
                    ],
                }
            ),
        }
        if self.history is not None:
            frames["demand"] = self.history.demand
        return {k: v.copy() for k, v in frames.items()}

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame]) -> Segmentation:
        """Rebuild from :meth:`to_frames` output (``items`` and ``customers`` required).

        Without ``info`` the default config is assumed; without ``demand``
        :meth:`demand_stats` is unavailable (enough to serve as ``previous``).
        """
        for name, cols in (("items", ("item", "abc", "xyz", "intermittent")),
                           ("customers", ("customer", "segment"))):  # fmt: skip
            if name not in frames:
                raise InstanceError(f"frames lack the {name!r} table.", field=name)
            missing = [c for c in cols if c not in frames[name].columns]
            if missing:
                raise InstanceError(f"frames[{name!r}] lacks column(s) {missing}.", field=name)
        info: dict[str, Any] = {}
        config = SegmentationConfig()
        if "info" in frames:
            kv = dict(zip(frames["info"]["key"], frames["info"]["value"], strict=True))
            info = json.loads(kv.get("info", "{}"))
            if "config" in kv:
                config = SegmentationConfig.model_validate_json(kv["config"])
        history = None
        if "demand" in frames and info.get("periods"):
            p = info["periods"]
            history = History(
                lines=pd.DataFrame(),
                demand=frames["demand"].copy(),
                periods=pd.period_range(p["first"], p["last"], freq=config.period).start_time,
                has_margin=bool(info.get("has_margin", False)),
                returns=dict(info.get("returns", {})),
            )
        empty = pd.DataFrame(columns=CHANGE_COLUMNS)
        return cls(
            items=frames["items"].copy(),
            customers=frames["customers"].copy(),
            changes=frames.get("changes", empty).copy(),
            policy=frames["policy"].copy() if "policy" in frames else config.policy.to_frame(),
            config=config,
            info=info,
            history=history,
        )

    def to_json(self) -> str:
        """JSON document of items, customers, changes, policy, info and config (no demand)."""
        doc: dict[str, Any] = {
            name: json.loads(df.to_json(orient="split", index=False, double_precision=15))
            for name, df in (
                ("items", self.items),
                ("customers", self.customers),
                ("changes", self.changes),
                ("policy", self.policy),
            )
        }
        doc["info"] = self.info
        doc["config"] = self.config.model_dump(mode="json")
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Path) -> Segmentation:
        """Rebuild from :meth:`to_json` text (or a path to a file holding it)."""
        if isinstance(text, Path) or (isinstance(text, str) and not text.lstrip().startswith("{")):
            text = Path(text).read_text(encoding="utf-8")
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise InstanceError("the document is not a JSON object.", field=None)
        frames = {
            name: _split_table(doc[name], name)
            for name in ("items", "customers", "changes", "policy")
            if name in doc
        }
        seg = cls.from_frames(frames)
        for name in ("info", "config"):  # (info: 5 ended in "internal error: AttributeError")
            if not isinstance(doc.get(name, {}), dict):
                raise InstanceError(f"{name} is not an object.", field=name)
        config = (
            SegmentationConfig.model_validate(doc["config"]) if "config" in doc else seg.config
        )
        return cls(
            items=seg.items,
            customers=seg.customers,
            changes=seg.changes,
            policy=seg.policy,
            config=config,
            info=doc.get("info", {}),
        )


def _split_table(table: Any, name: str) -> pd.DataFrame:
    """A table of :meth:`Segmentation.to_json` (pandas' ``split`` orientation: ``columns``
    and ``data`` rows), checked: a list for a table, a row of another length or a column
    that is not text ended as pandas' own errors."""
    if not isinstance(table, dict) or not isinstance(table.get("columns"), list):
        raise InstanceError(f"{name} is not a table (columns and data).", field=name)
    columns = table["columns"]
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        raise InstanceError(
            f"{name}.columns must be distinct column names.", field=f"{name}.columns"
        )
    rows = table.get("data")
    if not isinstance(rows, list):
        raise InstanceError(f"{name}.data is not a list of rows.", field=f"{name}.data")
    for k, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InstanceError(
                f"{name}.data[{k}] is not a row of {len(columns)} values (one per column).",
                field=f"{name}.data[{k}]",
            )
    return pd.DataFrame(rows, columns=columns)
