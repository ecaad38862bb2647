"""The Dask driver of a region build: a client, every area's tile and merge tasks submitted, results collected."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from mapgen.config import RegionConfig
from mapgen.errors import MissingExtraError, RegionError
from mapgen.progress import say, stage
from mapgen.region.cuts import can_precut, cut_key, plan_cuts, precut_box
from mapgen.region.manifest import area_fingerprint, is_unchanged, write_manifest
from mapgen.region.publish import region_outputs
from mapgen.region.tasks import PARTS_DIR, Part, build_part, merge_area
from mapgen.region.tiles import BBox
from mapgen.textsafe import console_text

if TYPE_CHECKING:
    from dask.distributed import Client, Future

REGION_SUMMARY = "region.json"
CUTS_DIR = "_cuts"  # the tiles' extracts of a shared file, while the build runs


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A ``dask.distributed.Client``: on an existing scheduler, or on a local cluster sized to the machine.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None starts a ``LocalCluster``.
    workers
        Worker processes of the local cluster (default: one per CPU, one thread each).

    Yields
    ------
    dask.distributed.Client
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise MissingExtraError("dask", "region", "region builds") from exc

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise RegionError(
                f"{scheduler}: cannot reach the Dask scheduler ({exc}); is `dask scheduler` running "
                "there and the port open?"
            ) from exc
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def build_region(
    region: RegionConfig,
    out_dir: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Client | None = None,
    quiet: bool = False,
) -> dict[str, object]:
    """Build every area of a region on Dask and write the region outputs.

    Each area (or tile of an area) is a task that reads its own OSM source on a
    worker; each area's tiles are merged by one more task into the usual
    output contract in ``OUT/<area>/``. Areas whose inputs did not change since
    their last successful build (``manifest.json``) are skipped; a failed area
    is reported with its error and the others complete. Then ``OUT/index.html``
    (all areas), ``OUT/venues.csv`` and ``OUT/venues/<area>.csv`` (the venue
    directory) and ``OUT/region.json`` are written.

    Parameters
    ----------
    region
        The region configuration.
    out_dir
        Output folder (created); must be on storage the workers share.
    scheduler
        Address of a running Dask scheduler; default a local cluster.
    workers
        Worker processes of the local cluster (default: one per CPU).
    client
        An existing ``dask.distributed.Client`` to use instead (tests, notebooks).
    quiet
        No progress output.

    Returns
    -------
    dict
        The region summary (also written to ``region.json``).
    """
    started = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    status: dict[str, dict[str, object]] = {}
    todo = []
    for area in region.areas:
        fp = area_fingerprint(region, area)
        if is_unchanged(out / area.name, fp):
            status[area.name] = {"status": "skipped", "reason": "inputs unchanged since the last build"}
            say(f"[dim]{console_text(area.name)}: unchanged, skipped[/dim]", quiet)
        else:
            todo.append((area, fp))
    traffic: dict[str, object] = {}
    if todo:
        with nullcontext(client) if client is not None else dask_client(scheduler, workers) as dask:
            done, traffic = _run_areas(dask, region, todo, out, quiet)
            status.update(done)
    summary = region_outputs(region, out, status)
    summary["dask"] = traffic
    summary["seconds"] = round(time.perf_counter() - started, 2)
    (out / REGION_SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return summary


def _run_areas(
    client: Client, region: RegionConfig, todo: list, out: Path, quiet: bool
) -> tuple[dict[str, dict[str, object]], dict[str, object]]:
    """Submit every area's tasks and collect the results; also returns what went over the wire (bytes, tasks)."""
    from dask.distributed import as_completed

    merges, area_of = [], {}
    n_parts = 0
    cuts, sent = _submit_cuts(client, region, todo, out)
    for area, fp in todo:
        area_dir = out / area.name
        n = area.grid[0] * area.grid[1]
        buffer = region.buffer_m(area)
        plan = cuts.get(str(area.osm)) if can_precut(area) else None
        tiles = [
            Part(
                area,
                i,
                buffer,
                out / PARTS_DIR / area.name / str(i),
                precut_box(area, i, buffer, region.precut_margin_m) if plan else None,
            )
            for i in range(n)
        ]
        parts = [
            client.submit(build_part, tile, plan, key=f"tile-{area.name}-{i}-{fp['digest'][:12]}", pure=False)
            for i, tile in enumerate(tiles)
        ]
        merge = client.submit(
            merge_area, area, area_dir, fp, *parts, key=f"area-{area.name}-{fp['digest'][:12]}", pure=False
        )
        sent += sum(len(pickle.dumps(t)) for t in tiles) + len(pickle.dumps((area, area_dir, fp)))
        merges.append(merge)
        area_of[merge.key] = (area, fp)
        n_parts += n
    say(f"Building {len(todo)} area(s), {n_parts} tile(s) on Dask ({console_text(_describe(client))})", quiet)
    status: dict[str, dict[str, object]] = {}
    received = 0
    with stage("Areas", total=len(merges), quiet=quiet) as advance:
        for future in as_completed(merges):
            area, fp = area_of[future.key]
            try:
                summary = future.result()
                received += len(pickle.dumps(summary))
            except Exception as exc:  # any failure of one area is reported; the others go on
                error = f"{type(exc).__name__}: {exc}"
                (out / area.name).mkdir(exist_ok=True)
                write_manifest(out / area.name, fp, "failed", error)
                status[area.name] = {
                    "status": "failed",
                    "error": error,
                    "traceback": "".join(traceback.format_exception(exc))[-4000:],
                }
                say(f"[red]{console_text(area.name)}: failed[/red] — {console_text(error)}", quiet)
            else:
                counts, reach = summary.counts, summary.reach
                status[area.name] = {"status": "built", "seconds": summary.seconds}
                say(
                    f"[green]{console_text(area.name)}[/green]: {counts.schools} schools, {counts.venues} venues, "
                    f"pairs walk {reach['walk']['pairs']} / bike {reach['bike']['pairs']}, "
                    f"{len((summary.partition or {}).get('tiles', []))} tile(s)",
                    quiet,
                )
            advance(1)
    plans = [f.result() for f in cuts.values() if f.status == "finished"]
    shutil.rmtree(out / CUTS_DIR, ignore_errors=True)  # the tiles' extracts, read by now
    with suppress(OSError):
        (out / PARTS_DIR).rmdir()  # empty unless a failed area left its tiles' tables
    return status, {
        "tasks": n_parts + len(merges) + len(cuts),
        "argument_bytes": sent,
        "result_bytes": received,
        "cut_plan_s": sum(p["seconds"] for p in plans),
        "cut_write_s": sum(p["write_seconds"] for p in plans),
    }


def _submit_cuts(client: Client, region: RegionConfig, todo: list, out: Path) -> tuple[dict[str, Future], int]:
    """One :func:`plan_cuts` task per extract shared by the areas to build: source path → its future.

    Each extract is read once to choose every tile's objects and once to write them; every tile
    then reads only its own extract.
    Also returns the pickled size of the tasks' arguments.
    """
    boxes: dict[str, dict[str, BBox]] = {}
    for area, _ in todo:
        if can_precut(area):
            buffer = region.buffer_m(area)
            for i in range(area.grid[0] * area.grid[1]):
                boxes.setdefault(str(area.osm), {})[cut_key(area.name, i)] = precut_box(
                    area, i, buffer, region.precut_margin_m
                )
    futures, sent = {}, 0
    for source, mine in boxes.items():
        digest = hashlib.sha256(json.dumps([source, mine], sort_keys=True).encode()).hexdigest()[:16]
        args = (Path(source), mine, out / CUTS_DIR / digest)
        futures[source] = client.submit(plan_cuts, *args, key=f"cuts-{digest}", pure=False)
        sent += len(pickle.dumps(args))
    return futures, sent


def _describe(client: Client) -> str:
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(w.get("nthreads", 1) for w in workers.values())
    return f"scheduler {info.get('address', '?')}, {len(workers)} worker(s), {threads} thread(s)"


def region_progress_line(summary: dict[str, object]) -> str:
    """One-line end-of-run summary of :func:`build_region`."""
    failed = summary["failed"]
    return (
        f"{summary['title']}: {summary['built']} area(s) built, {summary['skipped']} unchanged and skipped, "
        f"{len(failed)} failed{' (' + ', '.join(failed) + ')' if failed else ''}; "  # type: ignore[arg-type]
        f"{summary['seconds']:.1f} s"
    )
