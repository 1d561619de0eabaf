"""Command line: ``optim solve | validate | schema | simulate | segment | forecast | review |
demo``.

Exit codes: 0 solved (a solution is returned, possibly with a gap), 1 internal error,
2 invalid input (one message on stderr; nothing written), 3 infeasible, 4 time limit without
a solution.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from optim import api, result_schema
from optim.errors import InstanceError, OptimError, ResultError

if TYPE_CHECKING:
    from optim.params import SolveParams
    from optim.result import Result

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 1, 2, 3, 4
EXIT_TARGET_MISSED = 5  # optim simulate --check: a segment missed its target


MAX_HORIZON = 156
"""Longest ``optim forecast --horizon``: three years of weeks (as ``plan_weeks``)."""


def exit_code(result: Result) -> int:
    """Map a result onto the CLI's exit codes."""
    from optim.status import Status

    if result.has_solution():
        return EXIT_OK
    if result.status in (Status.INFEASIBLE, Status.UNBOUNDED):
        return EXIT_INFEASIBLE
    if result.status is Status.TIME_LIMIT:
        return EXIT_NO_SOLUTION
    return EXIT_INTERNAL


# ----------------------------------------------------------------------------- option types
def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; allowed: {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite; allowed: {what}")
    return value


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; allowed: {what}"
        ) from None


def seconds(text: str) -> float:
    """``--time-limit``: seconds, a finite number > 0."""
    value = _number(text, "seconds > 0, e.g. 30")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} seconds; allowed: seconds > 0, e.g. 30")
    return value


def gap(text: str) -> float:
    """``--mip-gap``: a relative gap in [0, 1]."""
    value = _number(text, "a relative gap in [0, 1], e.g. 0.01")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}; allowed: a relative gap in [0, 1]")
    return value


def between(low: float, high: float, what: str) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``what`` names its unit)."""

    def parse(text: str) -> float:
        allowed = f"{what}, a number in [{low:g}, {high:g}]"
        value = _number(text, allowed)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}; allowed: {allowed}")
        return value

    parse.__name__ = what
    return parse


def bounded(low: int, high: int, what: str) -> Callable[[str], int]:
    """A whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        value = _whole(text, f"{what}, a whole number in [{low:,}, {high:,}]")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r}; allowed: {what}, a whole number in [{low:,}, {high:,}]"
            )
        return value

    parse.__name__ = what
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``optim: invalid option: …``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: invalid option: {message}", file=sys.stderr)
        print(f"{self.prog}: see '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Version(argparse.Action):
    """``--version``, the installed version looked up only when asked: importlib.metadata
    costs every other command ~25 ms of its start-up."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the installed version and exit")
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"optim {_version()}")
        parser.exit()


_INPUTS = (
    "instance", "instances", "result", "history", "folder", "shipments", "config", "pins",
    "policy", "overrides", "segmentation",
)  # fmt: skip
"""The arguments that name input files or folders (``--previous``, a run the new one may
replace, is not among them)."""


def _check_outputs(args: argparse.Namespace, files: Sequence[str], folders: Sequence[str]) -> None:
    """Every output path is checked before any work starts (exit 2 when not writable, or
    when writing it would destroy an input: an output file that is an input file, an
    output folder - replaced as a whole - that is or holds an input)."""
    from optim.instances.gate import check_output

    inputs = []
    for name in _INPUTS:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path) and str(item) not in ("", "-"):
                inputs.append(Path(item).resolve())
    for names, folder in ((files, False), (folders, True)):
        for name in names:
            value = getattr(args, name, None)
            if not value:
                continue
            option = "--" + name.replace("_", "-")
            check_output(value, folder=folder, option=option)
            if str(value) == "-":
                continue
            out = Path(value).resolve()
            for path in inputs:
                if path == out or (folder and out in path.parents):
                    what = (
                        "is the input, which writing it would overwrite"
                        if path == out
                        else f"holds the input {path}, which writing it would delete (the "
                        "folder is replaced as a whole)"
                    )
                    raise InstanceError(
                        f"{option} {value}: {what}; allowed: an output path outside the inputs.",
                        field=option.lstrip("-"),
                    )


def _params(args: argparse.Namespace) -> SolveParams:
    from optim.params import SolveParams

    return SolveParams(
        time_limit=args.time_limit,
        solver=args.solver,
        method=args.method,
        mip_gap=args.mip_gap,
        threads=args.threads,
    )


def _emit(result: Result, args: argparse.Namespace) -> int:
    if args.out == "-":
        sys.stdout.write(result.to_json(include_runtime=args.timing))
    else:
        if args.out:
            result.to_json(args.out, include_runtime=args.timing)
        if args.tables:
            with _atomic(args.tables, "optim solve --tables", args.instance) as tmp:
                result.write_tables(tmp, format=args.format)
    return _finish(result, args)


def _finish(result: Result, args: argparse.Namespace) -> int:
    """The summary on stdout (unless the document went there or ``--quiet``), the reason on
    stderr when there is no solution, and the exit code."""
    if args.out != "-" and not args.quiet:
        print(result.summary())
    if not result.has_solution():
        print(f"optim: no solution: {result.status.value}. {result.message}", file=sys.stderr)
        for line in result.diagnosis:
            print(f"optim: {line}", file=sys.stderr)
    return exit_code(result)


def _input_facts(path_text: str) -> dict[str, Any]:
    """What the manifest says about an input path: its name and SHA-256 (files and folders;
    standard input has no digest)."""
    from optim.output import hash_files

    path = Path(path_text)
    if path_text == "-" or not path.exists():
        return {"path": path_text}
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        return {"path": path_text, "sha256": hash_files(files, root=path)}
    return {"path": path_text, "sha256": hash_files([path])}


def _atomic(folder: str, command: str, source: str) -> Any:
    """An output folder written atomically with its manifest (:mod:`optim.output`)."""
    from optim.output import atomic_folder

    return atomic_folder(Path(folder), command=command, inputs=_input_facts(source))


def cmd_solve(args: argparse.Namespace) -> int:
    _check_outputs(args, ["out"], ["tables"])
    if args.tables and args.out != "-":
        from optim.output import check_target

        check_target(args.tables, "--tables")
    if args.split:
        return _solve_split(args)
    instance = _load(args.instance)
    try:
        result = api.solve(instance, _params(args))
    except InstanceError as exc:
        raise _in_document(exc, args.instance) from None
    return _emit(result, args)


@contextmanager
def _stdout_for_optim_only() -> Iterator[None]:
    """Standard output carries what optim prints and nothing else, for every command.

    File descriptor 1 points at stderr while the command runs, and Python's ``sys.stdout``
    writes to the real standard output through a duplicate of the old descriptor. A C
    library's own prints (HiGHS 1.12.0 printf's a debug line from some MIPs whatever its
    output flag) go to stderr instead of into a result document, a summary or an empty
    ``--quiet`` stdout; processes started meanwhile (spawned solve workers, the numba
    warm-up, the service's pool, a local Dask cluster) inherit the same descriptor 1, so
    nothing they print reaches stdout either. Descriptor 1 is a pipe whose reader thread
    copies every line to stderr except HiGHS's debug line (:data:`_NATIVE_NOISE`: it says
    nothing to a planner and is printed even under ``--quiet``). C's buffered stdout is
    flushed into the pipe, and all of it copied, before the descriptor is given back. A
    ``sys.stdout`` that is not descriptor 1 (a test's capture) is left as it is.
    """
    stdout = sys.stdout
    try:
        stdout.flush()
        saved = os.dup(1)
    except (AttributeError, OSError, ValueError):  # no descriptor 1 (closed, or no console)
        yield
        return
    ours = None
    try:
        writes_to_1 = stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        writes_to_1 = False
    if writes_to_1:
        ours = _Stdout(
            io.BufferedWriter(io.FileIO(saved, "w", closefd=False)),
            encoding=stdout.encoding,
            errors=stdout.errors,
            line_buffering=bool(stdout.line_buffering),  # a terminal's stays line-buffered
        )
        sys.stdout = ours
    copied = None
    try:
        copied = _native_lines_to_stderr()
        yield
    finally:
        _flush_c_stdio()
        if ours is not None:
            sys.stdout = stdout
            try:
                ours.flush()
            except ReaderGone:  # the reader left (`optim schema plan | head`)
                ours = _closed_pipe(ours)
            ours.close()
        if copied is not None:
            copied()
        os.dup2(saved, 1)
        os.close(saved)


class ReaderGone(Exception):
    """The reader of standard output left (``optim schema capacity | head``)."""


class _Stdout(io.TextIOWrapper):
    """optim's standard output: a write or flush whose reader has gone raises
    :class:`ReaderGone` (any other broken pipe stays an error of its own)."""

    def write(self, s: str) -> int:
        try:
            return super().write(s)
        except BrokenPipeError as exc:
            raise ReaderGone from exc

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError as exc:
            raise ReaderGone from exc


def _closed_pipe(stream: Any) -> Any:
    """A stand-in for ``stream`` whose reader has gone: what is still buffered is dropped
    (closing ``stream`` would try to write it again, and Python would print "Exception
    ignored … BrokenPipeError" at exit)."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    return stream


_NATIVE_NOISE = frozenset(
    {b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"}
)
"""Lines a native library prints on descriptor 1 that are dropped: HiGHS 1.12.0's debug print
(ERGO-Code/HiGHS#2783, gone in later releases; highspy is pinned to 1.12.0 with ortools)."""


def _native_lines_to_stderr() -> Callable[[], None]:
    """Point descriptor 1 at a pipe whose reader thread copies lines to stderr but
    :data:`_NATIVE_NOISE`; return a function that waits until all this process wrote is
    copied (a marker line through the pipe; children's later lines are still copied)."""
    import threading

    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)
    marker = b"\x00optim-native-stdout-end-%d\x00" % os.getpid()
    reached = threading.Event()

    def copy() -> None:
        pending = b""
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.endswith(marker):  # after a partial line of this process, if any
                        _write_all(2, line[: -len(marker)])
                        reached.set()
                    elif line.rstrip(b"\r") not in _NATIVE_NOISE:
                        _write_all(2, line + b"\n")
                # a partial line (a progress bar's "\r") is shown now, unless it may still
                # become a dropped line or the marker (a NUL byte)
                if pending and b"\x00" not in pending and not _may_be_noise(pending):
                    _write_all(2, pending)
                    pending = b""
            if pending:
                _write_all(2, pending)
        reached.set()

    threading.Thread(target=copy, name="optim-native-stdout", daemon=True).start()

    def wait() -> None:
        with suppress(OSError):
            os.write(1, marker + b"\n")
            reached.wait(timeout=10.0)

    return wait


def _may_be_noise(start: bytes) -> bool:
    return any(line.startswith(start) for line in _NATIVE_NOISE)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``; a closed stderr drops it (the pipe keeps draining)."""
    with suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]


def _flush_c_stdio() -> None:
    """Flush C stdio's buffers (a library's printf to a pipe stays buffered until then)."""
    import ctypes

    with suppress(OSError, AttributeError, TypeError):  # no C library by name (Windows)
        ctypes.CDLL(None).fflush(None)


def _load(path_text: str | Path) -> Any:
    """:func:`optim.api.load`; an error in a CSV folder names the file and its line."""
    try:
        return api.load(path_text)
    except InstanceError as exc:
        raise _in_folder(exc, path_text) from None


def _in_document(exc: InstanceError, path_text: str | Path) -> InstanceError:
    """A solve's refusal of an instance field (a serial chain's lead-time tables over the
    memory budget) at the field's line of the instance file, as a reading error is (it named
    neither file nor line); a refused option (``params.*``) is left as it is."""
    path = Path(path_text)
    if not exc.field or exc.field.startswith("params.") or path.is_dir():
        return _in_folder(exc, path_text)
    from optim.instances import gate

    if str(path) == "-":
        return gate.located(exc, "standard input", "", ".json")
    return gate.located(exc, str(path), gate.read_text(path), path.suffix.lower())


def _in_folder(exc: InstanceError, path_text: str | Path) -> InstanceError:
    """A rationing CSV folder's error names the file line, not the table row counted from 0
    (:func:`optim.instances.rationing.located_in_folder`)."""
    path = Path(path_text)
    if str(path) == "-" or not path.is_dir():
        return exc
    from optim.instances.rationing import located_in_folder

    return located_in_folder(exc, path)


def _solve_split(args: argparse.Namespace) -> int:
    """``optim solve FOLDER --split --tables OUT``: a rationing CSV folder solved piece by
    piece (:func:`optim.split.solve_folder`; the process never holds the whole week); the
    tables are the one-process run's bytes, written atomically; ``--out`` gets the result
    document without tables."""
    from optim.errors import InstanceError

    if not Path(args.instance).is_dir():
        from optim.instances.gate import MAX_DOCUMENT_BYTES

        raise InstanceError(
            f"--split takes a rationing CSV folder, got {args.instance!r}; allowed: a folder "
            "with supply.csv, demand.csv and segments.csv (+ lanes.csv, previous.csv). A JSON "
            f"or YAML document is at most {MAX_DOCUMENT_BYTES // 2**20} MiB (about 10^6 order "
            "lines), which one process solves: optim solve DOCUMENT without --split",
            field="--split",
        )
    if not args.tables or args.out == "-":
        raise InstanceError(
            "--split writes its tables into a folder: give --tables DIR (the result document "
            "of --out holds no tables, and stdout is not available to it)",
            field="--split",
        )
    if args.format != "csv":
        raise InstanceError(
            f"--split writes CSV tables, got --format {args.format}; allowed: csv",
            field="--format",
        )
    from optim import split

    class _NoTables(Exception):  # no solution: the tables folder is not committed
        pass

    try:
        with _atomic(args.tables, "optim solve --split --tables", args.instance) as tmp:
            try:
                result = split.solve_folder(
                    args.instance, tmp, _params(args), workers=args.threads
                )
            except InstanceError as exc:
                raise _in_folder(exc, args.instance) from None
            if not result.has_solution():
                raise _NoTables
    except _NoTables:
        pass
    if args.out:
        result.to_json(args.out, include_runtime=args.timing)
    return _finish(result, args)


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.instance)
    if path.is_dir() and (path / "plan.yaml").is_file():
        # a plain folder is checked without pandas, anything else by read_folder (issue 12)
        from optim.planning.folder_check import validate_folder

        print("\n".join(validate_folder(path).lines()))
        return EXIT_OK
    if str(path) != "-" and path.is_dir():
        instance = _load(path)
        kind, sizes = instance.kind, _sizes(instance)
    else:
        kind, sizes = _validate_document(path)
    counts = ", ".join(f"{len_} {name}" for name, len_ in sizes.items() if len_)
    print(f"valid {kind} instance: {counts}")
    return EXIT_OK


def _sizes(instance: Any) -> dict[str, int]:
    """The length of every table (list or frame) of ``instance``."""
    return {
        name: len(getattr(instance, name))
        for name in type(instance).model_fields
        if hasattr(getattr(instance, name), "__len__")
        and not isinstance(getattr(instance, name), str)
    }


def _validate_document(path: Path) -> tuple[str, dict[str, int]]:
    """The kind and table sizes of the valid instance document at ``path``, as
    :func:`optim.api.load` validates it (the same errors, located by the input gate); a small
    plain rationing document is checked without pandas
    (:func:`optim.instances.rationing_small.plain_sizes`: issue 12, CLI start-up)."""
    from optim.instances import gate

    doc, text, suffix = gate.load_document(path, "instance document")
    try:
        if isinstance(doc, dict) and doc.get("kind") == "rationing":
            from optim.instances.rationing_small import plain_sizes

            sizes = plain_sizes(doc)
            if sizes is not None:
                return "rationing", sizes
        instance = api.from_dict(doc)
    except InstanceError as exc:
        name = "standard input" if str(path) == "-" else str(path)
        raise gate.located(exc, name, text, suffix) from None
    return instance.kind, _sizes(instance)


def cmd_schema(args: argparse.Namespace) -> int:
    from optim.result_schema import schema

    print(json.dumps(schema(args.kind), indent=2))
    return EXIT_OK


RESULT_NUMBERS = {
    "stages": {
        "inbound_service_time": "whole",
        "outbound_service_time": "whole",
        "service_time": "whole",
        "committed_service_time": "whole",
        "S": "whole",
        "SI": "whole",
        "safety_stock": "amount",
        "base_stock_level": "amount",
    },
    "demands": {"critical_level": "amount"},
}
"""The numbers of a result document that ``optim simulate`` reads (per table: column ->
whole periods >= 0 or an amount >= 0)."""


def _check_result_numbers(doc: dict[str, Any], text: str, path: Path) -> None:
    """Stage ids and strict numbers in the tables ``optim simulate`` reads from a result
    document (audit:
    a service time written as text, a boolean or 0.5 was converted to a whole number, a
    negative one simulated, a null critical level read as 0): one message naming the file,
    the line of the field, the field, the value as written and what is allowed."""
    from optim.instances import gate

    for table, columns in RESULT_NUMBERS.items():
        records = doc.get(table)
        if not isinstance(records, list):
            continue
        present = {c for r in records if isinstance(r, dict) for c in r if c in columns}
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                continue
            for column in ("stage", "segment") if table == "demands" else ("stage",):
                if not isinstance(record.get(column), str) or not record[column]:
                    where = f"{table}[{i}]" + (f".{column}" if column in record else "")
                    raise gate.refuse(
                        str(path),
                        f"{table} record {i} has {column} {gate.shown(record.get(column))}",
                        line=gate.field_line(text, ".json", where),
                        field=where,
                        allowed=f"the {column} id as text",
                    )
            for column, rule in columns.items():
                if column not in record:
                    if column in present:  # one table, one set of columns
                        raise gate.refuse(
                            str(path),
                            f"{table} record {i} lacks {column} (the other records have it)",
                            line=gate.field_line(text, ".json", f"{table}[{i}]"),
                            field=f"{table}[{i}]",
                            allowed=f"{column} in every record",
                        )
                    continue
                value, where = record[column], f"{table}[{i}].{column}"
                allowed = "a whole number of periods >= 0" if rule == "whole" else "a number >= 0"
                # a solve's output, not an input: beyond the inputs' 1e12 (a base stock of
                # three periods of a mean of 1e12), up to where doubles count whole units
                allowed += f" (at most {RESULT_MAGNITUDE:.0e})"
                bad = (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not 0 <= value <= RESULT_MAGNITUDE  # NaN, infinities, 10**400 too
                    or (rule == "whole" and float(value) != int(value))
                )
                if bad:
                    raise gate.refuse(
                        str(path),
                        f"{column} is {gate.shown(value)}",
                        line=gate.field_line(text, ".json", where),
                        field=where,
                        allowed=allowed + " (as `optim solve --out` writes it)",
                    )


RESULT_MAGNITUDE = 1e15
"""Largest number ``optim simulate`` takes in a result document's tables."""


def _file_name(path: str) -> str:
    """A file's name in messages: ``standard input`` for ``-``."""
    return "standard input" if str(path) == "-" else Path(path).name


def _check_schema_version(doc: dict[str, Any], text: str, path: Path) -> None:
    """A result document of another layout than the one this optim writes is refused, as
    ``--previous`` refuses a manifest of another schema (a ``schema_version: 2`` document
    was simulated as if it were version 1). A document without the field (written by hand)
    is read as the current layout."""
    from optim.instances import gate

    if "schema_version" not in doc:
        return
    version = doc["schema_version"]
    if isinstance(version, bool) or version != result_schema.RESULT_SCHEMA_VERSION:
        raise gate.refuse(
            str(path),
            f"schema_version is {gate.shown(version)}, a result layout this optim does not read",
            line=gate.field_line(text, ".json", "schema_version"),
            field="schema_version",
            allowed=f"{result_schema.RESULT_SCHEMA_VERSION} (the layout `optim solve --out` "
            "writes: solve the instance again with this optim)",
        )


def _check_simulated_kind(instance: Any, instance_path: str | None, text: str, path: Path) -> None:
    """``optim simulate`` simulates a safety-stock plan: a capacity or rationing instance
    (given with ``--instance`` or carried by the result) is refused naming the file, the line
    of its ``kind`` and what is needed (it failed with an AttributeError, exit 1)."""
    from optim.instances import gate
    from optim.instances.safety_stock import SafetyStockInstance

    if isinstance(instance, SafetyStockInstance):
        return
    what = f"is a {instance.kind} instance"
    allowed = "a safety_stock instance: the one the result was solved from"
    if instance_path is None:
        raise gate.refuse(
            str(path),
            f"the instance it carries {what}",
            line=gate.field_line(text, ".json", "instance.kind"),
            field="instance.kind",
            allowed=allowed,
        )
    source = Path(instance_path)
    line = None
    suffix = source.suffix.lower()
    if str(source) != "-" and source.is_file() and suffix in (".json", ".yaml", ".yml"):
        line = gate.field_line(
            gate.read_text(source, "instance document"),
            ".json" if suffix == ".json" else suffix,
            "kind",
        )
    raise gate.refuse(
        f"--instance {instance_path}",
        what,
        line=line,
        field="kind" if line is not None else None,
        allowed=allowed,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from optim.instances import gate
    from optim.models.safety_stock.simulate import normal_approximations, simulate, summary_line

    _check_outputs(args, ["out"], [])
    path = Path(args.result)
    text = gate.read_text(path, "result document")
    doc = gate.parse_json(text, str(path))
    if not isinstance(doc, dict) or doc.get("kind") != "safety_stock" or "stages" not in doc:
        raise InstanceError(
            f"{path}: expected a safety_stock result document with 'stages' (written by "
            "`optim solve --out`)"
        )
    if not isinstance(doc["stages"], list) or not all(isinstance(r, dict) for r in doc["stages"]):
        raise InstanceError(f"{path}, field stages: expected a list of stage records")
    if "status" not in doc:  # an instance document has stages too, but no solution
        raise InstanceError(
            f"{path}: is a safety_stock instance, not a result (no 'status'); allowed: the "
            "result document `optim solve INSTANCE --out RESULT.json` writes (pass the "
            "instance with --instance when the result does not carry it)"
        )
    _check_schema_version(doc, text, path)
    _check_result_numbers(doc, text, path)
    if args.instance:
        instance = _load(args.instance)
        source = f"the instance of --instance {_file_name(args.instance)}"
    elif "instance" in doc:
        try:
            instance = api.from_dict(doc["instance"])
        except InstanceError as exc:  # (it named neither the file nor a line)
            field = f"instance.{exc.field}" if exc.field else "instance"
            raise gate.refuse(
                str(path),
                f"the instance it carries: {str(exc).rstrip('.')}",
                line=gate.field_line(text, ".json", field),
                field=field,
            ) from None
        source = "the instance the result carries"
    else:
        raise InstanceError(f"{path}: the document carries no instance; pass --instance PATH")
    _check_simulated_kind(instance, args.instance, text, path)
    levels = None
    if isinstance(doc.get("demands"), list):
        frame = pd.DataFrame(doc["demands"])
        levels = frame if "critical_level" in frame.columns else None
    try:
        table = simulate(
            instance,
            pd.DataFrame(doc["stages"]),
            periods=args.periods,
            replications=args.replications,
            seed=args.seed,
            levels=levels,
            workers=args.workers,
        )
    except ResultError as exc:  # a row of the result: its line in the result document
        what, _, allowed = str(exc).rstrip(".").partition("; allowed: ")
        raise gate.refuse(
            str(path),
            f"{what} (against {source})",
            line=gate.field_line(text, ".json", exc.field),
            field=exc.field,
            allowed=allowed or None,
        ) from None
    except InstanceError as exc:
        if exc.field in ("periods", "replications"):  # the options, not the file
            raise InstanceError(
                f"--periods {args.periods} --replications {args.replications}: {exc}",
                field=exc.field,
            ) from None
        raise
    except ValueError as exc:
        raise InstanceError(f"{path}: {exc}") from None
    if args.out:
        from optim.precision import write_csv

        write_csv(table, args.out)
    if not args.quiet:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False))
    print(summary_line(table))
    approx = normal_approximations(instance)
    if approx and not args.quiet:  # (--quiet: the summary line only)
        shown_ = ", ".join(approx[:5]) + (f", … ({len(approx)} in all)" if len(approx) > 5 else "")
        print(
            f"note: {shown_} drawn from the normal approximation with the law's own "
            "mean and variance, as its stage was sized: the stage keeps the square-root model "
            "(the solve's message says why)"
        )
    if args.check and not bool(table["meets_target"].all()):
        return EXIT_TARGET_MISSED
    return EXIT_OK


def cmd_segment(args: argparse.Namespace) -> int:
    from optim.segmentation import SegmentationConfig, segment

    _check_outputs(args, [], ["out"])
    if args.out:
        from optim.output import check_target

        check_target(args.out)
    previous = _previous(args.previous) if args.previous else None
    config = SegmentationConfig.from_yaml(args.config) if args.config else SegmentationConfig()
    if args.returns:
        config = config.model_copy(update={"returns": args.returns})
    origins: dict[str, str] = {}
    pins = _pins(args, origins)
    try:
        seg = segment(args.history, config=config, previous=previous, overrides=pins)
    except InstanceError as exc:
        raise _config_error(_pin_error(exc, origins), args.config) from None
    if args.out:
        with _atomic(args.out, "optim segment", args.history) as out:
            from optim.precision import write_csv

            for name, frame in seg.to_frames().items():
                write_csv(frame, out / f"{name}.csv")
            write_csv(seg.item_policy(), out / "item_policy.csv")
            (out / "segmentation.json").write_text(seg.to_json(), encoding="utf-8")
    print(seg.summary())
    return EXIT_OK


def _previous(path_text: str, option: str = "--previous") -> Any:
    """A ``segmentation.json`` of ``optim segment --out`` named by ``option`` (last run's
    for ``segment --previous``, the segments of ``review --segmentation``) through the input
    gate; anything else is exit 2 naming the option (review's said ``--previous``)."""
    from optim.instances import gate
    from optim.segmentation import Segmentation

    path = Path(path_text)
    field = option.removeprefix("--")
    text = gate.read_text(path, "segmentation document")
    doc = gate.parse_json(text, f"{option} {path}")
    if not isinstance(doc, dict) or not {"items", "customers"} <= set(doc):
        raise InstanceError(
            f"{option} {path}: not a segmentation.json written by `optim segment --out` "
            "(it needs 'items' and 'customers')",
            field=field,
        )
    try:
        return Segmentation.from_json(text)
    except InstanceError as exc:
        where = gate.located(exc, f"{option} {path}", text, ".json")
        if "allowed" in str(where):
            raise where from None
        raise InstanceError(
            f"{str(where).rstrip('.')}; allowed: a segmentation.json written by `optim "
            "segment --out`.",
            field=exc.field,
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InstanceError(
            f"{option} {path}: not a segmentation.json written by `optim segment --out` "
            f"({type(exc).__name__}: {exc})",
            field=field,
        ) from None


def cmd_forecast(args: argparse.Namespace) -> int:
    from optim.forecasting import forecast
    from optim.segmentation import SegmentationConfig

    _check_outputs(args, [], ["out"])
    if args.out:
        from optim.output import check_target

        check_target(args.out)
    config = SegmentationConfig.from_yaml(args.config) if args.config else SegmentationConfig()
    if args.returns:
        config = config.model_copy(update={"returns": args.returns})
    if not 0 < args.horizon <= MAX_HORIZON:  # (20,000 weeks ran past pandas' dates: exit 1)
        raise InstanceError(
            f"--horizon must be a whole number of periods > 0 and at most {MAX_HORIZON}, got "
            f"{args.horizon}.",
            "horizon",
        )
    if not 0.0 < args.level < 1.0:
        raise InstanceError(
            f"--level must be strictly between 0 and 1 (e.g. 0.9), got {args.level:g}.", "level"
        )
    try:
        result = forecast(
            args.history,
            horizon=args.horizon,
            by=args.by.split(","),  # (",item" dropped its blank key without a word)
            level=args.level,
            overrides=args.overrides,
            config=config,
            origins=args.origins,
            n_jobs=args.jobs,
        )
    except InstanceError as exc:
        raise _config_error(exc, args.config) from None
    if args.out:
        with _atomic(args.out, "optim forecast", args.history) as out:
            result.write(out)
    print(result.summary())
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    from optim.planning.review import read_shipments, review
    from optim.segmentation import PolicyTable, default_policy, segment

    _check_outputs(args, [], ["out"])
    if args.out:  # replaced as a whole at the end: never a folder of other files
        from optim.output import check_target

        check_target(args.out)
    lines = read_shipments(args.shipments)
    policy = PolicyTable.from_yaml(args.policy) if args.policy else default_policy()
    segment_of = class_of = None
    if args.segmentation:
        seg = _previous(args.segmentation, "--segmentation")
        segment_of = seg.customers.set_index("customer")["segment"]
        class_of = seg.items.set_index("item")["abc"]
    elif not {"segment", "abc"} <= set(lines.columns):
        if not {"unit_price", "revenue"} & set(lines.columns):
            raise InstanceError(
                f"{_file_name(args.shipments)} line 1: no segment and abc columns, no "
                "unit_price or revenue to segment the lines by, and no --segmentation; allowed: "
                "one of the three.",
                field="segment",
            )
        from optim.segmentation import SegmentationConfig

        cols = [c for c in ("date", "customer", "item", "quantity", "unit_price", "revenue",
                            "location") if c in lines.columns]  # fmt: skip
        seg = segment(lines[cols], config=SegmentationConfig(policy=policy))
        segment_of = seg.customers.set_index("customer")["segment"]
        class_of = seg.items.set_index("item")["abc"]
    result = review(
        lines,
        policy,
        segment_of=segment_of,
        class_of=class_of,
        window=args.window,
        bucket=args.bucket,
    )
    if args.out:
        with _atomic(args.out, "optim review", args.shipments) as out:
            result.write(out)
    print(result.summary())
    return EXIT_OK


def _pins(
    args: argparse.Namespace, origins: dict[str, str] | None = None
) -> dict[str, str] | None:
    """Customer pins from ``--pin CUSTOMER=SEGMENT`` and ``--pins FILE`` (customer,segment);
    ``origins`` gets where each customer's pin was written (``--pins f.csv line 3``,
    ``--pin C1=strategic``) for the messages of later checks."""
    pins: dict[str, str] = {}
    origins = {} if origins is None else origins
    if args.pins:
        from optim.instances.gate import first_blank_line, read_csv_text

        frame = read_csv_text(args.pins, f"--pins {args.pins}")
        missing = [c for c in ("customer", "segment") if c not in frame.columns]
        extra = [c for c in frame.columns if c not in ("customer", "segment")]
        if missing or extra:  # (an extra valid_until column was dropped without a word)
            what = (
                f"missing column(s) {', '.join(missing)}; needs"
                if missing
                else f"unknown column {extra[0]!r}; allowed:"
            )
            raise InstanceError(
                f"--pins {args.pins} line 1: {what} customer, segment.", field="pins"
            )
        for col in ("customer", "segment"):  # (an empty segment ended in KeyError, exit 1)
            line = first_blank_line(frame, col)
            if line is not None:
                raise InstanceError(
                    f"--pins {args.pins} line {line}, column {col}: (empty); allowed: a {col} id.",
                    field="pins",
                )
        rows = zip(
            frame.index, frame["customer"].str.strip(), frame["segment"].str.strip(), strict=True
        )
        lines: dict[str, int] = {}
        for line, customer, name in rows:
            if pins.get(customer, name) != name:
                raise InstanceError(
                    f"--pins {args.pins} line {line}, column segment: customer {customer!r} "
                    f"is pinned to {name!r} here and to {pins[customer]!r} on line "
                    f"{lines[customer]}; allowed: one segment per customer.",
                    field="pins",
                )
            pins[customer] = name
            lines.setdefault(customer, line)
            origins[customer] = f"--pins {args.pins} line {line}"
    for text in args.pin or ():
        customer, sep, name = text.partition("=")
        if not sep or not customer.strip() or not name.strip():
            raise InstanceError(f"--pin {text!r} must be CUSTOMER=SEGMENT.", field="pin")
        customer, name = customer.strip(), name.strip()
        # (the last of two --pin flags silently won, and so did a --pin over its --pins line)
        if pins.get(customer, name) != name:
            raise InstanceError(
                f"--pin {text}: customer {customer!r} is pinned to {pins[customer]!r} by "
                f"{origins[customer]}; allowed: one segment per customer.",
                field="pin",
            )
        pins[customer] = name
        origins[customer] = f"--pin {text}"
    return pins or None


def _config_error(exc: InstanceError, config: str | None) -> InstanceError:
    """An error the segmentation raised on a customer rule of the ``--config`` file,
    checked against the history (a channel no order line has), with the file and the line
    of that field (it named neither). Only ``customer_rules[…]`` fields: a history column
    such as ``margin`` or ``period`` shares a config key's name."""
    if not config or config == "-" or not (exc.field or "").startswith("customer_rules["):
        return exc
    from optim.instances import gate

    path = Path(config)
    text = gate.read_text(path, "config")
    return gate.located(exc, path.name, text, path.suffix.lower() or ".yaml")


def _pin_error(exc: InstanceError, origins: dict[str, str]) -> InstanceError:
    """segment()'s error on a pin (field ``overrides.CUSTOMER``) named by where the pin was
    written on the command line."""
    field = exc.field or ""
    customer = field.removeprefix("overrides.")
    if not field.startswith("overrides.") or customer not in origins:
        return exc
    return InstanceError(f"{origins[customer]}: {exc}", field=exc.field)


def cmd_demo(args: argparse.Namespace) -> int:
    _check_outputs(args, [], ["out"])
    from optim.output import check_target

    check_target(args.out)
    from optim.params import SolveParams
    from optim.planning import demo

    # --seed is the example's seed; the solves take the default solver seed, as `optim plan
    # OUT/input` does, so that command reproduces the demo byte for byte (README)
    params = SolveParams(time_limit=args.time_limit, threads=args.threads)
    return demo.run(Path(args.out), seed=args.seed, quiet=args.quiet, params=params)


def cmd_plan(args: argparse.Namespace) -> int:
    _check_outputs(args, [], ["out"])
    from optim.output import check_target

    check_target(args.out)
    from optim.planning import demo

    origins: dict[str, str] = {}
    return demo.plan(
        Path(args.folder),
        Path(args.out),
        quiet=args.quiet,
        params=_job_params(args),
        pins=_pins(args, origins),
        previous=Path(args.previous) if args.previous else None,
        pin_origins=origins,
    )


def cmd_batch(args: argparse.Namespace) -> int:
    from optim import batch
    from optim.params import SolveParams

    _check_outputs(args, [], ["out"])
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
            name, k = Path(path).stem, i
            while name in seen:  # (x-2.json a/x.json b/x.json: b's x-2 overwrote the first)
                name, k = f"{Path(path).stem}-{k}", k + 1
            seen.add(name)
            tasks.append((name, _load(path), params))
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
        cache_bytes=int(args.cache_mib * 2**20),
        keep_days=args.keep_days,
        log_format=args.log_format,
    )
    return service.serve(config, log_level=args.log_level)


def _job_params(args: argparse.Namespace) -> SolveParams:
    from optim.params import SolveParams

    return SolveParams(time_limit=args.time_limit, threads=args.threads, seed=args.seed)


def _add_solve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write the result document (JSON) here; '-' for stdout")
    p.add_argument("--tables", help="write every result table into this folder (CSV)")
    p.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="format of --tables: csv (default) or parquet (compact, typed; needs pyarrow)",
    )
    p.add_argument(
        "--threads",
        type=bounded(1, 256, "worker processes"),
        default=1,
        help="worker processes for independent blocks, 1..256",
    )
    _add_limits(p)
    p.add_argument(
        "--solver",
        default="auto",
        choices=("auto", "highs", "pyomo", "cpsat", "glop", "pdlp"),
        help="backend: auto (the problem's fast path), highs, pyomo (reference), cpsat, glop, "
        "pdlp (which ones a kind accepts: README, 'Engines')",
    )
    p.add_argument(
        "--method",
        default="auto",
        help="problem-specific method (default auto); safety stock: dp | mip; rationing: auto "
        "(exact flow method on small components, staged LPs elsewhere) or lp (staged LPs only)",
    )
    p.add_argument(
        "--mip-gap", type=gap, default=1e-6, help="relative MIP gap in [0, 1] (default 1e-6)"
    )
    p.add_argument("--timing", action="store_true", help="include runtime in the document")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    _add_cluster_option(p)
    p.add_argument(
        "--split",
        action="store_true",
        help="rationing CSV folder only: solve it piece by piece so that no process holds the "
        "whole week (10^7+ lines; with --cluster the pieces go to Dask workers, which must "
        "see the folder); needs --tables, writes the same CSV bytes as the whole run",
    )


def _add_cluster_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="Dask scheduler for work that fans out (default: $OPTIM_CLUSTER, else local)",
    )


def _add_limits(p: argparse.ArgumentParser, per: str = "") -> None:
    p.add_argument(
        "--time-limit",
        type=seconds,
        default=None,
        metavar="S",
        help=f"wall-clock limit in seconds{per}, > 0 (default: none)",
    )


def _add_job_options(p: argparse.ArgumentParser) -> None:
    _add_limits(p, " per solve")
    p.add_argument(
        "--threads",
        type=bounded(1, 256, "worker processes"),
        default=1,
        help="parallel worker processes, 1..256 (results do not depend on it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress, no summary")
    _add_cluster_option(p)


def parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog="optim", description="Segment-aware inventory and allocation optimisation."
    )
    root.add_argument("--version", action=_Version)
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("solve", help="solve an instance (JSON, YAML or a folder of CSV files)")
    p.add_argument("instance", help="JSON or YAML document, folder of CSV files, or '-' (stdin)")
    _add_solve_options(p)
    p.set_defaults(func=cmd_solve)
    p = sub.add_parser(
        "validate", help="check an instance or a planning folder and report its size"
    )
    p.add_argument(
        "instance", help="JSON or YAML document, folder of CSV files, planning folder, or '-'"
    )
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of an instance kind, of plan.yaml ('plan'), of a result "
        "document ('result-KIND') or of an output folder's manifest.json ('manifest')",
    )
    p.add_argument(
        "kind",
        choices=result_schema.SCHEMAS,
        help="what to describe",
    )
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("simulate", help="Monte-Carlo check of a safety-stock result")
    p.add_argument("result", help="result document written by `optim solve --out`")
    p.add_argument("--instance", help="instance file (default: the one in the document)")
    p.add_argument(
        "--periods",
        type=bounded(1, 10**6, "periods per replication"),
        default=2000,
        help="simulated periods per replication, 1..1,000,000 (default 2000)",
    )
    p.add_argument(
        "--replications",
        type=bounded(1, 10_000, "replications"),
        default=30,
        help="independent replications, 1..10,000 (default 30)",
    )
    p.add_argument(
        "--seed", type=bounded(0, 2**32 - 1, "seed"), default=0, help="random seed, >= 0"
    )
    p.add_argument("--out", help="write the table as CSV")
    p.add_argument(
        "--check", action="store_true", help="exit 5 when a target is missed (ci_high < target)"
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.add_argument(
        "--workers",
        type=bounded(1, 256, "worker processes"),
        default=1,
        help="local processes the replications are split over, 1..256 (the table does not "
        "depend on it)",
    )
    _add_cluster_option(p)
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("segment", help="segment items and customers from order history")
    p.add_argument("history", help="order lines: CSV or parquet, or '-' (standard input, CSV)")
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
    p.add_argument("history", help="order lines: CSV or parquet, or '-' (as for `optim segment`)")
    p.add_argument(
        "--horizon",
        type=int,
        default=13,
        help=f"periods to forecast, 1..{MAX_HORIZON} (default 13)",
    )
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
    p.add_argument(
        "--jobs",
        type=bounded(1, 256, "worker processes"),
        default=1,
        help="worker processes, 1..256 (default 1)",
    )
    p.add_argument("--out", help="folder for forecast.csv and accuracy.csv")
    p.set_defaults(func=cmd_forecast)
    p = sub.add_parser(
        "review",
        help="achieved fill rate and OTIF per customer segment × item class against the "
        "policy's targets, with the trend and a recommendation (shipped order lines)",
    )
    p.add_argument(
        "shipments",
        help="order lines: customer, item, date, quantity, shipped_quantity, ship_date "
        "(+ due_date, segment, abc)",
    )
    p.add_argument("--policy", help="policy table (YAML; default the packaged one)")
    p.add_argument(
        "--segmentation", help="segmentation.json of `optim segment --out` (segments, classes)"
    )
    p.add_argument(
        "--window",
        type=bounded(1, 520, "window weeks"),
        default=13,
        help="weeks reviewed, ending at the latest date in the file (default 13)",
    )
    p.add_argument(
        "--bucket",
        type=bounded(1, 52, "bucket weeks"),
        default=4,
        help="weeks per trend bucket (default 4)",
    )
    p.add_argument("--out", help="folder for review.csv and review_trend.csv")
    p.set_defaults(func=cmd_review)
    p = sub.add_parser(
        "demo",
        help="the main job: segment → policy → safety stock → peak plan → rationing on the "
        "seeded distributor example; tables, result documents and report.html",
    )
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument(
        "--seed",
        type=bounded(0, 2**32 - 1, "seed"),
        default=2026,
        help="seed of the example, >= 0 (default 2026)",
    )
    _add_job_options(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser(
        "plan",
        help="the same chain on your data: a planning folder (history.csv, orders.csv, "
        "items.csv, plan.yaml [, supply.csv, policy.yaml]); `optim demo` writes one to "
        "OUT/input",
    )
    p.add_argument("folder", help="the planning folder (see `optim schema plan`)")
    p.add_argument("--out", default="plan-output", help="output folder (default plan-output)")
    p.add_argument(
        "--pin",
        action="append",
        metavar="CUSTOMER=SEGMENT",
        help="pin a customer to a segment (repeatable; wins over pins.csv and plan.yaml pins)",
    )
    p.add_argument("--pins", metavar="FILE", help="CSV of pins: customer,segment")
    p.add_argument(
        "--previous",
        metavar="DIR",
        help="last week's output folder (with its manifest.json): report what changed since "
        "then and why (class, stock and allocation changes in changes/*.csv and the report)",
    )
    p.add_argument(
        "--seed", type=bounded(0, 2**32 - 1, "seed"), default=0, help="solver seed, >= 0"
    )
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
        metavar="WHERE[:FRACTION]",
        help="a location's supply / a resource's capacity and overtime lose FRACTION in [0, 1] "
        "(default 1: all of it; repeatable)",
    )
    p.add_argument(
        "--workers",
        type=bounded(1, 256, "worker processes"),
        default=1,
        help="local worker processes, 1..256 (default 1)",
    )
    _add_limits(p, " per solve")
    p.add_argument("--quiet", action="store_true", help="no summary table")
    _add_cluster_option(p)
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("serve", help="the HTTP API with async jobs (FastAPI + uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument(
        "--port", type=bounded(1, 65535, "TCP port"), default=8000, help="TCP port (default 8000)"
    )
    p.add_argument(
        "--workers",
        type=bounded(1, 256, "solver worker processes"),
        default=2,
        help="solver worker processes, 1..256 (default 2)",
    )
    p.add_argument("--store", default="optim-service.db", help="SQLite file of jobs/results")
    p.add_argument(
        "--api-keys",
        metavar="FILE",
        help="API keys, one per line, each 16+ printable ASCII characters without spaces (or "
        "$OPTIM_API_KEYS, comma-separated)",
    )
    p.add_argument("--no-auth", action="store_true", help="no API keys (loopback only)")
    p.add_argument(
        "--max-body",
        type=between(0.001, 1024, "MiB"),
        default=64,
        help="request body limit, MiB (default 64)",
    )
    p.add_argument(
        "--max-time-limit", type=seconds, default=3600, help="job time-limit cap, s (default 3600)"
    )
    p.add_argument(
        "--sync-time-limit", type=seconds, default=30, help="/v1/solve cap, s (default 30)"
    )
    p.add_argument(
        "--max-queue",
        type=bounded(1, 10**6, "queued jobs"),
        default=1000,
        help="queued jobs before 429, 1..10^6 (default 1000)",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="server log lines: text, or json (one object a line: time, level, logger, "
        "message, request_id, and for each request method, path, status, ms)",
    )
    p.add_argument(
        "--keep-days",
        type=between(1e-5, 36500, "days"),
        default=7,
        help="an ended job and its result are deleted this many days after it ended (default 7)",
    )
    p.add_argument(
        "--cache-mib",
        type=between(0, 65536, "MiB"),
        default=64,
        help="memory for results of deterministic solves, reused for identical requests "
        "(MiB, default 64; 0 turns the cache off)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="server log level (default info)",
    )
    p.set_defaults(func=cmd_serve)
    return root


class Terminated(BaseException):
    """SIGTERM during a command: unwinds like Ctrl-C so output folders are cleaned up."""


_STOP = {"sigterm": False}


def stop_requested() -> bool:
    """Whether SIGTERM arrived during this command (a library may have swallowed the
    exception the handler raised; the output folder checks this before it completes)."""
    return _STOP["sigterm"]


def _raise_terminated(signum: int, frame: Any) -> None:
    _STOP["sigterm"] = True
    raise Terminated


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`Terminated` (main thread only); returns the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _as_typed(exc: InstanceError) -> str:
    """The message with a solve parameter named as the planner typed it: ``--method`` /
    ``--solver``, not the document field ``params.method`` the service speaks of."""
    text = str(exc)
    for name in ("method", "solver"):
        if exc.field == f"params.{name}" and text.startswith(f"params.{name} "):
            return f"--{name} " + text[len(f"params.{name} ") :]
    return text


def _check_cluster(flag: str | None) -> None:
    """The scheduler in force (``--cluster``, else ``$OPTIM_CLUSTER``) is well formed and
    listening before the first step: a port nothing listened on failed at the first fan-out,
    after the steps before it and a 30 s connect timeout; a malformed ``$OPTIM_CLUSTER``
    ended there as an internal error (exit 1)."""
    from optim import executor

    try:
        if flag:
            executor.use_cluster(flag)
        address = executor.cluster_address()
    except ValueError as exc:
        where = "" if flag else f"${executor.ENV_CLUSTER}: "
        raise InstanceError(where + str(exc), field="cluster") from None
    if address:
        executor.probe(address, source="--cluster " if flag else f"${executor.ENV_CLUSTER}=")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (one line, exit 2)
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace], int] = args.func
    previous_handler = _on_sigterm()
    _STOP["sigterm"] = False
    try:
        if hasattr(args, "cluster") or getattr(args, "command", None) == "serve":
            _check_cluster(getattr(args, "cluster", None))  # (the service's jobs fan out too)
        if os.environ.get("OPTIM_MEMORY_LIMIT_GB"):  # checked here, it is not the file's fault
            from optim.instances.gate import memory_limit  # (it was named as the instance's)

            memory_limit()
        with _stdout_for_optim_only():
            code = func(args)
        if _STOP["sigterm"]:
            raise Terminated
        return code
    except InstanceError as exc:
        print(f"optim: invalid input: {_as_typed(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except OptimError as exc:
        print(f"optim: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except Terminated:
        print(
            "optim: stopped (SIGTERM); no incomplete output is left (the output folder is "
            "complete or untouched)",
            file=sys.stderr,
        )
        return 143
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except ReaderGone:
        # the reader of standard output left (`optim schema capacity | head`): end quietly,
        # as a process killed by SIGPIPE would (was "internal error: BrokenPipeError")
        return 141
    except Exception as exc:  # never a bare traceback for a planner
        print(f"optim: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("OPTIM_DEBUG"):
            traceback.print_exc()
        else:
            print("optim: set OPTIM_DEBUG=1 to see the traceback", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        if getattr(args, "cluster", None):
            from optim import executor

            executor.use_cluster(None)


if __name__ == "__main__":  # pragma: no cover - tests run it in a subprocess
    # `python -m optim.cli` runs this file as a second module, __main__, beside optim.cli:
    # its SIGTERM flag would not be the one optim.output reads (optim.cli.stop_requested),
    # so a SIGTERM whose exception a library swallowed let the run commit its output.
    from optim.cli import main as _main

    sys.exit(_main())
