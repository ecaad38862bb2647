"""The last outputs of a build: ``summary.json``, the PDF sheets and ``site.db``; an optional one is skipped, not fatal."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.markup import escape

from mapgen.contract import SkippedOutput, Summary
from mapgen.errors import SystemPackageError
from mapgen.progress import console, stage
from mapgen.publish.files import write_summary
from mapgen.publish.fonts import check_pango, cjk_font_family
from mapgen.publish.pdf import SheetRun
from mapgen.publish.sheetdata import load_build
from mapgen.publish.sheetproc import SheetProcess
from mapgen.publish.sitedb import write_site_db


def finish_build(
    out: Path,
    summary: Summary,
    timings: dict[str, float],
    started: float,
    n_schools: int,
    quiet: bool,
    final: Path | None = None,
    meanwhile: Callable[[], None] | None = None,
    sheets_by: SheetProcess | None = None,
    school_ids: Sequence[str] = (),
) -> None:
    """Write ``summary.json``, the PDF sheets (they read it) and ``site.db``; record their timings.

    The sheets are rendered by forked processes (:class:`~mapgen.publish.pdf.SheetRun`, from
    `sheets_by` when the build forked one early, given `school_ids` with the most venues
    first) while this process runs `meanwhile` (a build writes its maps there) and
    ``site.db``; ``pdf`` in the timings is the time from the first sheet begun to the last
    one written.

    An optional output (PDF sheets, ``site.db``) that a missing system package keeps from
    being written is skipped with one warning line and listed in ``summary.skipped``;
    everything else is still written. The line names the command to run later on `final`,
    the folder `out` becomes (default `out` itself).
    """
    later = final or out
    outputs, skipped = summary.outputs, summary.skipped
    write_summary(out, summary)  # the sheets read it
    others_done = False

    def others() -> None:
        nonlocal others_done
        others_done = True
        if meanwhile is not None:
            meanwhile()
        _optional_output("site_db", site_db, f"mapgen publish --data {later}", skipped)

    def sheets() -> None:
        cjk_font_family()  # before the progress bar, so a missing package shows only as the warning line
        t0 = time.perf_counter()
        if sheets_by is not None:  # it tells a missing package itself
            sheets_by.begin(out, school_ids)
            others()
            with stage("Writing PDF sheets", total=n_schools, quiet=quiet) as advance:
                sheets_by.wait(progress=advance)
        else:
            check_pango()
            with SheetRun(load_build(out)) as run:  # the workers begin at once
                others()
                with stage("Writing PDF sheets", total=n_schools, quiet=quiet) as advance:
                    run.write(progress=advance)
        timings["pdf"] = time.perf_counter() - t0
        outputs["pdf_sheets"] = str(out / "schools")

    def site_db() -> None:
        check_fts5()
        with stage("Writing site.db", quiet=quiet):  # reads the contract files just written
            outputs["site_db"] = str(write_site_db(out)["path"])

    t0 = time.perf_counter()
    _optional_output("pdf_sheets", sheets, f"mapgen pdf --data {later}", skipped)
    timings.setdefault("pdf", time.perf_counter() - t0)  # skipped: the time it took to find out
    if not others_done:  # the sheets were skipped before they began
        others()
    timings["total"] = time.perf_counter() - started
    summary.seconds = {k: round(v, 2) for k, v in timings.items()}
    write_summary(out, summary)


def _optional_output(name: str, write: Callable[[], None], rerun: str, skipped: list[SkippedOutput]) -> None:
    """Run `write`; when a system package is missing, record `name` in `skipped` and warn in one line."""
    try:
        write()
    except SystemPackageError as exc:
        skipped.append(SkippedOutput(output=name, reason=str(exc)))
        console.print(
            f"[yellow]warning:[/yellow] {name} skipped: {escape(str(exc))}; then run `{escape(rerun)}`", highlight=False
        )


def check_fts5() -> None:
    """Check that Python's SQLite has the FTS5 full-text module that ``site.db`` needs.

    Raises
    ------
    SystemPackageError
        When it has not.
    """
    with contextlib.closing(sqlite3.connect(":memory:")) as con:
        try:
            con.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        except sqlite3.OperationalError as exc:
            raise SystemPackageError(
                f"this Python's SQLite has no FTS5 module ({exc}); use a Python built with a full SQLite "
                "(Debian python3, python.org and conda builds have it)"
            ) from exc
