"""Write outputs so a killed run never leaves a half-written result: staged folders and files swapped in when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mapgen.errors import InputFileError

#: Marker file inside a folder that is still being written (its name says so too).
INCOMPLETE_MARKER = "INCOMPLETE"
_STAGING = ".incomplete-"
_RETIRED = ".previous-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(parent: Path, name: str) -> None:
    """Remove staging and retired folders of `name` left by runs that were killed (their process is gone)."""
    for kind in (_STAGING, _RETIRED):
        for leftover in parent.glob(f".{name}{kind}*"):
            pid = leftover.name[len(f".{name}{kind}") :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)) and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)


def _check_target(out: Path, built_marker: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: --out is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / built_marker).is_file():
        raise InputFileError(
            f"{out}: the folder holds files that are not a mapgen build (no {built_marker}); "
            "give a new or empty --out folder (a build replaces the whole folder)"
        )


@contextmanager
def staged_folder(out: str | Path, built_marker: str) -> Iterator[Path]:
    """Yield a fresh sibling folder to write into; when the block ends normally it replaces `out`.

    The sibling is ``.<name>.incomplete-<pid>-<random>`` and holds an ``INCOMPLETE`` file until
    it is swapped in, so a killed run leaves `out` as it was (plus that plainly marked folder,
    which the next run removes). On an error the sibling is removed and `out` is untouched.

    Parameters
    ----------
    out
        The output folder: new, empty, or an earlier output (one holding `built_marker`).
    built_marker
        A file every complete output holds (e.g. ``summary.json``); a non-empty folder without
        it is refused rather than replaced, so a wrong ``--out`` never deletes other files.

    Raises
    ------
    InputFileError
        `out` is a file, a folder of other files, or its parent folder cannot be written.
    """
    out = Path(os.path.abspath(out))  # "." and "a/.." have a name and a parent once absolute
    _check_target(out, built_marker)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _sweep(parent, out.name)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGING}{os.getpid()}-", dir=parent))
        (work / INCOMPLETE_MARKER).write_text(
            f"A mapgen run is writing this folder (or was killed while doing so); when complete it replaces {out}.\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise InputFileError(f"{out}: cannot write the output folder ({exc.strerror or exc})") from exc
    done = False
    try:
        yield work
        (work / INCOMPLETE_MARKER).unlink()
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}{_RETIRED}{os.getpid()}-", dir=parent))
            os.replace(out, retired / out.name)
            os.replace(work, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(work, out)
        done = True
    finally:
        if not done:
            shutil.rmtree(work, ignore_errors=True)


@contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """Yield a unique temporary file beside `path`; when the block ends normally it atomically replaces `path`.

    Concurrent writers each get their own temporary file and the last rename wins; readers see
    the old file or the new one, never a part. On an error the temporary file is removed.

    Raises
    ------
    InputFileError
        `path` is a folder, or its folder is missing or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a file to write")
    if not path.parent.is_dir():
        raise InputFileError(f"{path.parent}: folder not found (create it first)")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write into {path.parent} ({exc.strerror or exc})") from exc
    os.close(handle)
    tmp = Path(name)
    # mkstemp makes the file private (0600); the result gets the mode a plain open() would give it
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
