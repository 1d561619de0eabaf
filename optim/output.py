"""Atomic output folders: a run's files appear all at once, or not at all.

:func:`atomic_folder` hands out a temporary folder beside the target
(``.NAME.partial-XXXX``, hidden); the run writes everything there; at the end a manifest
(``manifest.json``: optim version, what wrote it, the input's SHA-256 and every file's
SHA-256) is written last, as the completion marker, and the folder is renamed onto the
target (a previous run's folder is moved aside first and removed after). A run that fails
or is stopped (``SIGTERM``: the CLI turns it into an exception) removes its temporary
folder; a ``SIGTERM`` during the final renames is held until they are done (the target is
then the new complete run). A run killed outright (``SIGKILL``) leaves only the hidden
partial folder (killed between the two renames: the previous run, in a hidden ``.old-``
folder). Either way the target is the previous complete run or nothing — never a mix,
never a folder that looks complete without being complete. The partial folder's name holds
its process id and host (``.NAME.partial-PID-HOST-XXXX``): the next run into the same
target removes those of its host whose process is gone, so killed runs do not pile up
hidden folders. :func:`verify` checks a folder against its manifest.

The manifest holds no time stamps, so the same input gives a byte-identical folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optim.errors import InstanceError

__all__ = ["MANIFEST", "atomic_folder", "hash_files", "verify"]

MANIFEST = "manifest.json"
SCHEMA = "optim.manifest/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def hash_files(paths: Iterable[Path], root: Path | None = None) -> str:
    """One SHA-256 over files (their names relative to ``root`` and their bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        name = path.relative_to(root).as_posix() if root is not None else path.name
        digest.update(name.encode() + b"\0" + _sha256(path).encode() + b"\n")
    return digest.hexdigest()


def is_output_folder(folder: Path) -> bool:
    """Whether ``folder`` may be replaced: missing, empty, or written by optim."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    names = {p.name for p in folder.iterdir()}
    return not names or MANIFEST in names or "segment_summary.csv" in names


def check_target(folder: str | Path, option: str = "--out") -> None:
    """Refuse an output folder that holds something optim did not write (before any work)."""
    folder = Path(folder)
    if not is_output_folder(folder):
        raise InstanceError(
            f"{option} {folder}: the folder holds files optim did not write (no {MANIFEST}); "
            "allowed: a new or empty folder, or an earlier optim output folder (replaced as a "
            "whole).",
            field=option.lstrip("-"),
        )


@contextmanager
def atomic_folder(
    target: str | Path, *, command: str, inputs: dict[str, Any] | None = None
) -> Iterator[Path]:
    """Write a folder atomically (module docstring); yields the temporary folder.

    Parameters
    ----------
    target
        The output folder; replaced as a whole when the block ends without error.
    command
        What wrote it (``"optim plan"``), kept in the manifest.
    inputs
        Facts about the input for the manifest (e.g. ``{"sha256": …, "files": […]}``).
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(target), dir=parent))
    try:
        yield tmp
        from optim.cli import Terminated, stop_requested

        if stop_requested():  # SIGTERM arrived and a library swallowed the exception
            raise Terminated
        write_manifest(tmp, command=command, inputs=inputs)
        with _sigterm_held():
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
                os.rename(target, old / "run")
            os.rename(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _host() -> str:
    import socket

    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _partial_prefix(target: Path, pid: int | None = None) -> str:
    return f".{target.name}.partial-{os.getpid() if pid is None else pid}-{_host()}-"


def _remove_dead_partials(target: Path) -> None:
    """Remove the partial folders of ``target`` left by killed runs of this host (their
    process is gone); a live run's, another host's or an unparsable one is left alone."""
    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"\.{re.escape(target.name)}\.partial-(\d+)-{re.escape(_host())}-[^-]+")
    try:
        names = [p.name for p in parent.iterdir()]
    except OSError:
        return
    for name in names:
        found = pattern.fullmatch(name)
        if found and not _alive(int(found.group(1))):
            shutil.rmtree(parent / name, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or cannot tell: keep its folder
    return True


@contextmanager
def _sigterm_held() -> Iterator[None]:
    """Hold a SIGTERM that arrives during the block until the block has ended, then hand it
    to the handler that was in force (the CLI's raises :class:`optim.cli.Terminated`; the
    default one ends the process).

    The commit is two renames and the removal of the previous run: a SIGTERM between the
    renames would leave no target (the previous run only in the hidden ``.old-`` folder),
    one during the removal a half-removed ``.old-`` folder. Signals are handled in the main
    thread only, so elsewhere the block runs as it is.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[tuple[int, Any]] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: held.append((signum, frame)))
    if previous is None:  # installed outside Python: restore the default
        previous = signal.SIG_DFL
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if held:
            if callable(previous):
                previous(*held[0])
            else:  # the default (end the process) or SIG_IGN, as if it came now
                signal.raise_signal(signal.SIGTERM)


def write_manifest(folder: Path, *, command: str, inputs: dict[str, Any] | None) -> Path:
    """``manifest.json``: version, command, input facts, every file's size and SHA-256."""
    from optim.cli import _version

    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in _files(folder)
    }
    doc = {
        "schema": SCHEMA,
        "optim_version": _version(),
        "command": command,
        "input": inputs or {},
        "files": files,
        "complete": True,
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def verify(folder: str | Path) -> list[str]:
    """Problems of ``folder`` against its manifest (empty list: complete and unchanged).

    Each names the file in the folder and, for a file the manifest lists, its entry there
    (``manifest.json line 7, field files.report.html``); a manifest that cannot be read is
    named with the line of the fault.
    """
    from optim.instances import gate

    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return [f"{folder}: no {MANIFEST} (the run did not complete)"]
    try:
        text = gate.read_text(path, "manifest")
        doc = gate.parse_json(text, str(path))
    except InstanceError as exc:
        return [str(exc)]
    # an edited manifest (a file's facts as text, a missing sha256) ended as an internal
    # error (TypeError / KeyError, exit 1) where the caller refuses the folder
    files = doc.get("files") if isinstance(doc, dict) else None
    listed: dict[str, Any] = files if isinstance(files, dict) else {}
    field: str | None = "files"
    what = "not an optim manifest"
    if isinstance(files, dict):
        bad = [
            name
            for name, facts in listed.items()
            if not name
            or Path(name).is_absolute()
            or ".." in Path(name).parts
            or not isinstance(facts, dict)
            or not isinstance(facts.get("sha256"), str)
        ]
        field = f"files.{bad[0]}" if bad else None
        what = f"{gate.shown(listed[bad[0]])} is not a file's entry" if bad else what
    if field is not None:
        return [
            str(
                gate.refuse(
                    str(path),
                    what,
                    line=gate.json_line(text, field.split(".", 1)),
                    field=field,
                    allowed="a files mapping of names inside the folder to {bytes, sha256}",
                )
            )
        ]

    def entry(name: str) -> str:
        return gate.where(MANIFEST, gate.json_line(text, ("files", name)), f"files.{name}")

    problems = []
    for name, facts in sorted(listed.items()):
        file = folder / name
        if not file.is_file():
            problems.append(f"{file}: missing (listed in {entry(name)})")
        elif _sha256(file) != facts["sha256"]:
            problems.append(
                f"{file}: changed since the run (its SHA-256 differs from {entry(name)})"
            )
    for file in _files(folder):
        if file.relative_to(folder).as_posix() not in listed:
            problems.append(f"{file}: not written by the run (not listed in its {MANIFEST})")
    return problems
