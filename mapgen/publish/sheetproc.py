"""A build's PDF sheets from a process forked as the build begins, which loads the renderer while the extract is read."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from mapgen.config import Settings
from mapgen.errors import MapgenError, SystemPackageError
from mapgen.processes import fork_process, may_fork


class SheetProcess:
    """A forked process that renders one build folder's PDF sheets when told to.

    Forked as the build begins, it loads the renderer (WeasyPrint, pango, matplotlib) and its
    fonts on the second core while the build reads its extract (on one core), so the build's
    own process never loads them. Told the folder (:meth:`begin`), once its contract files are
    written, it reads the folder and renders the sheets with :class:`~mapgen.publish.pdf.SheetRun`
    (its workers forked from it, the renderer inherited), writing them itself while the build
    writes its maps and ``site.db``. Use it as a context manager: leaving it ends the process.
    """

    def __init__(self, settings: Settings) -> None:
        import multiprocessing

        self._conn, theirs = multiprocessing.get_context("fork").Pipe()
        self._process = fork_process(_serve, theirs, settings)
        theirs.close()

    def __enter__(self) -> SheetProcess:
        """Return the process."""
        return self

    def __exit__(self, *exc: object) -> None:
        """End the process: it stops once told there is nothing to do, or is stopped (with its workers).

        When the build failed (`exc` given) it is stopped at once, not waited for while it loads the renderer.
        """
        try:
            self._conn.send(None)
        except OSError:
            pass  # it has ended
        self._process.join(timeout=0 if exc[0] is not None else 5)
        if self._process.is_alive():
            self._process.terminate()  # its workers end when their task pipe closes with it
            self._process.join()
        self._conn.close()

    def begin(self, folder: Path, school_ids: Sequence[str]) -> None:
        """Render the sheets of `school_ids` (the most venues first is best) of the build folder `folder`.

        Parameters
        ----------
        folder
            A build folder with its contract files and ``summary.json`` written.
        school_ids
            The schools.
        """
        self._conn.send((str(folder), list(school_ids)))

    def wait(self, progress: Callable[[int], None] | None = None) -> None:
        """Wait until every sheet is written.

        Parameters
        ----------
        progress
            Called with 1 after each sheet.

        Raises
        ------
        SystemPackageError
            When the sheets cannot be rendered for a missing package or font (the message says which).
        MapgenError
            When the process failed otherwise (with its traceback).
        """
        while True:
            try:
                kind, detail = self._conn.recv()
            except EOFError:
                raise MapgenError("the process writing the PDF sheets ended before they were written") from None
            if kind == "sheet":
                if progress:
                    progress(1)
            elif kind == "done":
                return
            elif kind == "skip":
                raise SystemPackageError(detail)
            else:
                raise MapgenError(f"writing the PDF sheets failed:\n{detail}")


@contextmanager
def sheet_process(settings: Settings) -> Iterator[SheetProcess | None]:
    """A :class:`SheetProcess` for a build with these settings; None where the sheets are rendered by the build itself.

    None with ``sheet_workers`` 1 or where this process may not fork (a Dask worker).

    Parameters
    ----------
    settings
        The build's settings.

    Yields
    ------
    SheetProcess or None
    """
    if settings.sheet_workers != 1 and may_fork():
        with SheetProcess(settings) as started:
            yield started
    else:
        yield None


def _serve(conn: Connection, settings: Settings) -> None:
    """The forked process: load the renderer (and the font to cut), then render the one folder it is told (or nothing)."""
    from mapgen.publish.fonts import check_pango, cjk_font_family, open_font_ahead
    from mapgen.publish.pdf import SheetRun, warm_up
    from mapgen.publish.sheetdata import load_build

    try:
        check_pango()
        warm_up(cjk_font_family())
        import mapgen.publish.staticmap  # noqa: F401  # matplotlib, for the workers to inherit

        open_font_ahead(cjk_font_family(), settings)
    except SystemPackageError:
        pass  # told again below, when it matters
    try:
        job = conn.recv()
    except EOFError:
        return
    if job is None:
        return
    folder, school_ids = job
    try:
        cjk_font_family()
        check_pango()
        with SheetRun(load_build(folder), school_ids) as run:
            run.write(progress=lambda _: conn.send(("sheet", None)))
        conn.send(("done", None))
    except SystemPackageError as exc:
        conn.send(("skip", str(exc)))
    except Exception:  # sent to the build, which reports it
        conn.send(("error", traceback.format_exc()))
