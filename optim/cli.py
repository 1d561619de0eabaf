"""Command line: ``optim solve | validate | schema | simulate | segment | forecast | demo``.

Exit codes: 0 solved (a solution is returned, possibly with a gap), 1 internal error,
2 invalid input (one message on stderr; nothing written), 3 infeasible, 4 time limit without
a solution.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from optim import api
from optim.errors import InstanceError, OptimError
from optim.params import SolveParams
from optim.result import Result
from optim.status import Status

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 1, 2, 3, 4


def exit_code(result: Result) -> int:
    """Map a result onto the CLI's exit codes."""
    if result.has_solution():
        return EXIT_OK
    if result.status in (Status.INFEASIBLE, Status.UNBOUNDED):
        return EXIT_INFEASIBLE
    if result.status is Status.TIME_LIMIT:
        return EXIT_NO_SOLUTION
    return EXIT_INTERNAL


def _params(args: argparse.Namespace) -> SolveParams:
    return SolveParams(
        time_limit=args.time_limit,
        solver=args.solver,
        method=args.method,
        mip_gap=args.mip_gap,
    )


def _emit(result: Result, args: argparse.Namespace) -> int:
    if args.out == "-":
        sys.stdout.write(result.to_json(include_runtime=args.timing))
    else:
        if args.out:
            result.to_json(args.out, include_runtime=args.timing)
        if args.tables:
            result.write_tables(args.tables)
        if not args.quiet:
            print(result.summary())
    if not result.has_solution():
        print(f"optim: no solution: {result.status.value}. {result.message}", file=sys.stderr)
        for line in result.diagnosis:
            print(f"optim: {line}", file=sys.stderr)
    return exit_code(result)


def cmd_solve(args: argparse.Namespace) -> int:
    instance = api.load(args.instance)
    result = api.solve(instance, _params(args))
    return _emit(result, args)


def cmd_validate(args: argparse.Namespace) -> int:
    instance = api.load(args.instance)
    sizes = {
        name: len(getattr(instance, name))
        for name in type(instance).model_fields
        if hasattr(getattr(instance, name), "__len__")
        and not isinstance(getattr(instance, name), str)
    }
    counts = ", ".join(f"{len_} {name}" for name, len_ in sizes.items() if len_)
    print(f"valid {instance.kind} instance: {counts}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(api.schema(args.kind), indent=2))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from optim.models.safety_stock.simulate import simulate

    path = Path(args.result)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InstanceError(f"{path}: not a readable result document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "safety_stock" or "stages" not in doc:
        raise InstanceError(f"{path}: expected a safety_stock result document with 'stages'")
    if args.instance:
        instance = api.load(args.instance)
    elif "instance" in doc:
        instance = api.from_dict(doc["instance"])
    else:
        raise InstanceError(f"{path}: the document carries no instance; pass --instance PATH")
    table = simulate(
        instance,
        pd.DataFrame(doc["stages"]),
        periods=args.periods,
        replications=args.replications,
        seed=args.seed,
    )
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.10g", lineterminator="\n")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False))
    return EXIT_OK


def cmd_segment(args: argparse.Namespace) -> int:
    from optim.segmentation import Segmentation, SegmentationConfig, segment

    previous = Segmentation.from_json(args.previous) if args.previous else None
    config = SegmentationConfig.from_yaml(args.config) if args.config else SegmentationConfig()
    if args.returns:
        config = config.model_copy(update={"returns": args.returns})
    seg = segment(args.history, config=config, previous=previous, overrides=_pins(args))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in seg.to_frames().items():
            frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
        seg.item_policy().to_csv(out / "item_policy.csv", index=False, lineterminator="\n")
        (out / "segmentation.json").write_text(seg.to_json(), encoding="utf-8")
    print(seg.summary())
    return EXIT_OK


def cmd_forecast(args: argparse.Namespace) -> int:
    from optim.forecasting import forecast
    from optim.segmentation import SegmentationConfig

    config = SegmentationConfig.from_yaml(args.config) if args.config else SegmentationConfig()
    if args.returns:
        config = config.model_copy(update={"returns": args.returns})
    if args.horizon <= 0:
        raise InstanceError(
            f"--horizon must be a whole number of periods > 0, got {args.horizon}.", "horizon"
        )
    if not 0.0 < args.level < 1.0:
        raise InstanceError(
            f"--level must be strictly between 0 and 1 (e.g. 0.9), got {args.level:g}.", "level"
        )
    result = forecast(
        args.history,
        horizon=args.horizon,
        by=[k for k in args.by.split(",") if k.strip()],
        level=args.level,
        overrides=args.overrides,
        config=config,
        origins=args.origins,
        n_jobs=args.jobs,
    )
    if args.out:
        result.write(args.out)
    print(result.summary())
    return EXIT_OK


def _pins(args: argparse.Namespace) -> dict[str, str] | None:
    """Customer pins from ``--pin CUSTOMER=SEGMENT`` and ``--pins FILE`` (customer,segment)."""
    import pandas as pd

    pins: dict[str, str] = {}
    if args.pins:
        try:
            frame = pd.read_csv(args.pins, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise InstanceError(f"--pins {args.pins}: cannot read it ({exc}).", "pins") from exc
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        missing = [c for c in ("customer", "segment") if c not in frame.columns]
        if missing:
            raise InstanceError(
                f"--pins {args.pins}: missing column(s) {missing}; needs customer,segment.",
                field="pins",
            )
        pins.update(zip(frame["customer"].str.strip(), frame["segment"].str.strip(), strict=True))
    for text in args.pin or ():
        customer, sep, name = text.partition("=")
        if not sep or not customer.strip() or not name.strip():
            raise InstanceError(f"--pin {text!r} must be CUSTOMER=SEGMENT.", field="pin")
        pins[customer.strip()] = name.strip()
    return pins or None


def cmd_demo(args: argparse.Namespace) -> int:
    from optim.planning import demo

    return demo.run(Path(args.out), seed=args.seed, quiet=args.quiet, params=_job_params(args))


def cmd_plan(args: argparse.Namespace) -> int:
    from optim.planning import demo

    return demo.plan(Path(args.folder), Path(args.out), quiet=args.quiet, params=_job_params(args))


def cmd_batch(args: argparse.Namespace) -> int:
    from optim import batch

    params = SolveParams(time_limit=args.time_limit)
    what_if = args.demand or args.capacity_cut or args.disruption
    if what_if:
        if len(args.instances) != 1:
            raise InstanceError(
                "scenarios (--demand, --capacity-cut, --disruption) apply to "
                f"one instance; got {len(args.instances)}",
                field="instances",
            )
        base = batch.document(args.instances[0])
        scenarios = batch.grid(
            _floats(args.demand, "demand"),
            _floats(args.capacity_cut, "capacity-cut"),
            [batch.parse_disruption(d) for d in args.disruption or ()],
        )
        tasks = [(s.name, batch.apply(base, s), params) for s in scenarios]
        extra = [s.row() for s in scenarios]
    else:
        tasks, extra, seen = [], None, set()
        for i, path in enumerate(args.instances):
            name = Path(path).stem if Path(path).stem not in seen else f"{Path(path).stem}-{i}"
            seen.add(name)
            tasks.append((name, api.load(path), params))
    table = batch.run(tasks, Path(args.out), workers=args.workers, extra=extra)
    if not args.quiet:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 12):
            print(table.to_string(index=False))
    return int(table["exit_code"].max()) if len(table) else EXIT_OK


def _floats(values: list[str] | None, flag: str) -> list[float] | None:
    if not values:
        return None
    out = []
    for text in ",".join(values).split(","):
        try:
            out.append(float(text))
        except ValueError:
            raise InstanceError(f"--{flag} {text!r} is not a number", field=flag) from None
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    from optim import service

    config = service.ServiceConfig(
        host=args.host,
        port=args.port,
        workers=args.workers,
        store=Path(args.store),
        api_keys=frozenset() if args.no_auth else service.read_api_keys(args.api_keys),
        no_auth=args.no_auth,
        max_body=int(args.max_body * 2**20),
        max_time_limit=args.max_time_limit,
        sync_time_limit=args.sync_time_limit,
        max_queue=args.max_queue,
    )
    return service.serve(config, log_level=args.log_level)


def _job_params(args: argparse.Namespace) -> SolveParams:
    return SolveParams(time_limit=args.time_limit, threads=args.threads)


def _add_solve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write the result document (JSON) here; '-' for stdout")
    p.add_argument("--tables", help="write every result table as CSV into this folder")
    p.add_argument("--time-limit", type=float, default=None, help="seconds")
    p.add_argument("--solver", default="auto", help="auto | highs | pyomo | cpsat")
    p.add_argument("--method", default="auto", help="problem-specific method (default auto)")
    p.add_argument("--mip-gap", type=float, default=1e-6, help="relative MIP gap")
    p.add_argument("--timing", action="store_true", help="include runtime in the document")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    _add_cluster_option(p)


def _add_cluster_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="Dask scheduler for work that fans out (default: $OPTIM_CLUSTER, else local)",
    )


def _add_job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    p.add_argument("--threads", type=int, default=1, help="parallel worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress, no summary")
    _add_cluster_option(p)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="optim", description="Segment-aware inventory and allocation optimisation."
    )
    sub = root.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve an instance (JSON, YAML or a folder of CSV files)")
    p.add_argument("instance")
    _add_solve_options(p)
    p.set_defaults(func=cmd_solve)
    p = sub.add_parser("validate", help="check an instance and report its size")
    p.add_argument("instance")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of an instance kind")
    p.add_argument("kind", choices=sorted(api.KINDS))
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("simulate", help="Monte-Carlo check of a safety-stock result")
    p.add_argument("result", help="result document written by `optim solve --out`")
    p.add_argument("--instance", help="instance file (default: the one in the document)")
    p.add_argument("--periods", type=int, default=2000)
    p.add_argument("--replications", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the table as CSV")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("segment", help="segment items and customers from order history")
    p.add_argument("history", help="order lines: CSV or parquet")
    p.add_argument("--config", help="segmentation config (YAML)")
    p.add_argument("--previous", help="last run's segmentation.json (stability)")
    p.add_argument(
        "--pin", action="append", metavar="CUSTOMER=SEGMENT", help="pin a customer (repeatable)"
    )
    p.add_argument("--pins", metavar="FILE", help="CSV of pins: customer,segment")
    p.add_argument(
        "--returns",
        choices=("net", "exclude", "reject"),
        help="negative lines: net them per cell (default), drop them, or refuse them (exit 2)",
    )
    p.add_argument("--out", help="folder for the tables and segmentation.json")
    p.set_defaults(func=cmd_segment)
    p = sub.add_parser(
        "forecast",
        help="weekly forecasts per series from order history: forecast.csv (with intervals) "
        "and accuracy.csv (rolling-origin backtest against seasonal naive)",
    )
    p.add_argument("history", help="order lines: CSV or parquet (as for `optim segment`)")
    p.add_argument("--horizon", type=int, default=13, help="periods to forecast (default 13)")
    p.add_argument(
        "--by",
        default="item,segment,location",
        help="series keys, comma-separated, of item, segment, location, customer",
    )
    p.add_argument("--level", type=float, default=0.9, help="interval coverage in (0, 1)")
    p.add_argument(
        "--overrides", metavar="FILE", help="forecast_overrides.csv: by keys, week, forecast"
    )
    p.add_argument("--config", help="segmentation config (YAML) with the policy table")
    p.add_argument("--returns", choices=("net", "exclude", "reject"), help="as for segment")
    p.add_argument("--origins", type=int, default=3, help="backtest origins (>= 3)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--out", help="folder for forecast.csv and accuracy.csv")
    p.set_defaults(func=cmd_forecast)
    p = sub.add_parser(
        "demo",
        help="the main job: segment → policy → safety stock → peak plan → rationing on the "
        "seeded distributor example; tables, result documents and report.html",
    )
    p.add_argument("--out", default="demo-output", help="output folder")
    p.add_argument("--seed", type=int, default=2026, help="seed of the example")
    _add_job_options(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser(
        "plan",
        help="the same chain on your data: a planning folder (history.csv, orders.csv, "
        "items.csv, plan.yaml [, supply.csv, policy.yaml]); `optim demo` writes one to "
        "OUT/input",
    )
    p.add_argument("folder")
    p.add_argument("--out", default="plan-output", help="output folder")
    _add_job_options(p)
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser(
        "batch",
        help="solve many instances, or what-if scenarios of one (demand ×f, capacity −y %%, "
        "a disruption); local processes or a Dask cluster",
    )
    p.add_argument("instances", nargs="+", help="instance files or folders")
    p.add_argument("--out", default="batch-output", help="folder for results and batch.csv")
    p.add_argument("--demand", action="append", metavar="F[,F...]", help="demand factors")
    p.add_argument(
        "--capacity-cut", action="append", metavar="Y[,Y...]", help="capacity cuts in %%"
    )
    p.add_argument(
        "--disruption",
        action="append",
        metavar="WHERE:FRACTION",
        help="a location's supply / a resource's capacity loses FRACTION (repeatable)",
    )
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    p.add_argument("--quiet", action="store_true", help="no summary table")
    _add_cluster_option(p)
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("serve", help="the HTTP API with async jobs (FastAPI + uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2, help="solver worker processes")
    p.add_argument("--store", default="optim-service.db", help="SQLite file of jobs/results")
    p.add_argument(
        "--api-keys",
        metavar="FILE",
        help="API keys, one per line (or $OPTIM_API_KEYS, comma-separated)",
    )
    p.add_argument("--no-auth", action="store_true", help="no API keys (loopback only)")
    p.add_argument("--max-body", type=float, default=64, help="request body limit, MiB")
    p.add_argument("--max-time-limit", type=float, default=3600, help="job time-limit cap, s")
    p.add_argument("--sync-time-limit", type=float, default=30, help="/v1/solve cap, s")
    p.add_argument("--max-queue", type=int, default=1000, help="queued jobs before 429")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_serve)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "cluster", None):
            from optim import executor

            try:
                executor.use_cluster(args.cluster)
            except ValueError as exc:
                raise InstanceError(str(exc), field="cluster") from None
        return func(args)
    except InstanceError as exc:
        print(f"optim: invalid input: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OptimError as exc:
        print(f"optim: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except Exception as exc:  # never a bare traceback for a planner
        print(f"optim: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("OPTIM_DEBUG"):
            traceback.print_exc()
        else:
            print("optim: set OPTIM_DEBUG=1 to see the traceback", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if getattr(args, "cluster", None):
            from optim import executor

            executor.use_cluster(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
