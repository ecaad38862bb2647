"""A whole Heidelberg build (20 schools, PDF sheets included), before and after: wall and CPU per stage.

    .venv/bin/python benchmarks/bench_build.py [--before REV] [--rounds N] [--osm PBF] [--json PATH]

Each round builds the extract with this checkout and with ``--before`` (a git revision, default
``b3af7df``: before issue 19's whole-build work; its ``mapgen/`` unpacked into a temporary folder),
interleaved so both see the same machine load, each once with an empty cache (``cold``: the extract
is parsed and the graphs built) and once more with the cache that run left (``warm``). One build of
each side comes first, not counted: an unpacked revision compiles its numba kernels on its first
build (into its ``__pycache__``), which is not what an empty mapgen cache costs. Every build
is ``mapgen build --osm PBF --out DIR`` in a subprocess of its own. A small wrapper times each
progress stage of the build (``mapgen.progress.stage``): wall seconds and CPU seconds of the build
process; the CPU of the processes it forks (PDF sheets, walk and bike) counts in the total. Prints
the stage table, the total wall and CPU of each side and the load average (1 min) before and after
each build; writes JSON. Goal (issue 19): a Heidelberg build <= 15 s wall on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mapgen.cache import file_digest

ROOT = Path(__file__).resolve().parents[1]
# Outputs that both sides must write byte for byte the same (the PDFs carry a creation date).
_SAME = ("schools.geojson", "venues.geojson", "isochrones.geojson", "reachability.csv", "routes.csv")
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"

# Runs `mapgen build` with every progress stage timed; prints the timings as JSON on its last line.
_WRAPPER = r"""
import json, sys, time
started_wall, started_cpu = time.perf_counter(), time.process_time()
from contextlib import contextmanager
import mapgen.progress as progress
stages, real_stage = [], progress.stage
@contextmanager
def timed(description, total=None, quiet=False):
    wall, cpu = time.perf_counter(), time.process_time()
    with real_stage(description, total=total, quiet=quiet) as advance:
        yield advance
    stages.append([description, time.perf_counter() - wall, time.process_time() - cpu])
progress.stage = timed
from mapgen.cli import main
sys.argv = ["mapgen", "build", "--quiet", "--osm", sys.argv[1], "--out", sys.argv[2]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps({"stages": stages, "process_wall": time.perf_counter() - started_wall,
                  "process_cpu": time.process_time() - started_cpu}))
"""


def _build(code: Path, osm: Path, out: Path, cache: Path) -> dict[str, object]:
    """Build `osm` into `out` with the ``mapgen/`` in `code`; return wall, CPU (with children) and stages."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    wall = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(osm), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code), "MAPGEN_CACHE_DIR": str(cache)},
        cwd=code,
        check=False,
    )
    wall = time.perf_counter() - wall
    if done.returncode:
        raise SystemExit(f"build with {code} failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    timed = json.loads(done.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "stages": {
            **{name: [round(w, 2), round(c, 2)] for name, w, c in timed["stages"]},
            # the build process outside the progress stages: imports, school and venue selection, contract files
            "(rest of the build process)": [
                round(timed["process_wall"] - sum(w for _, w, _ in timed["stages"]), 2),
                round(timed["process_cpu"] - sum(c for _, _, c in timed["stages"]), 2),
            ],
            "(forked processes: CPU only)": [0.0, round(cpu - timed["process_cpu"], 2)],
        },
        "summary_seconds": summary["seconds"],
        "pdfs": len(list((out / "schools").glob("*.pdf"))),
        "digests": {name: file_digest(out / name) for name in _SAME},
    }


def _code(revision: str, into: Path) -> Path:
    """Unpack `revision`'s ``mapgen/`` into `into` (the working tree itself for ``""``)."""
    if not revision:
        return ROOT
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "mapgen"], capture_output=True, check=True)
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _median_cell(runs: list[dict[str, object]], pick: Callable[[dict[str, object]], object]) -> str:
    """Median wall and CPU seconds of `pick(run)` (a (wall, cpu) pair, or None where a run lacks it)."""
    values = [v for v in map(pick, runs) if v is not None]
    if not values:
        return f"{'-':>13}{'-':>7}"
    wall = statistics.median(v[0] for v in values)  # type: ignore[index]
    cpu = statistics.median(v[1] for v in values)  # type: ignore[index]
    return f"{wall:>13.2f}{cpu:>7.2f}"


def _table(results: dict[str, list[dict[str, object]]]) -> str:
    """Stage table: median wall / CPU seconds of each side, cold and warm."""
    lines = []
    for cache in ("cold", "warm"):
        runs = {side: [r for r in side_runs if r["cache"] == cache] for side, side_runs in results.items()}
        names: list[str] = []
        for side_runs in runs.values():
            for run in side_runs:
                names += [n for n in run["stages"] if n not in names]  # type: ignore[attr-defined]
        header = f"{cache + ' cache':<40}" + "".join(f"{side + ' wall':>13}{'CPU':>7}" for side in results)
        lines += ["", header, "-" * len(header)]
        for name in names:
            lines.append(
                f"{name[:39]:<40}"
                + "".join(_median_cell(r, lambda run, n=name: run["stages"].get(n)) for r in runs.values())  # type: ignore[misc]
            )
        lines.append(
            f"{'whole build (CPU: with forked workers)':<40}"
            + "".join(_median_cell(r, lambda run: (run["wall_s"], run["cpu_s"])) for r in runs.values())
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print/write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="b3af7df", help="git revision to compare with ('' = none)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (before, after) x (cold, warm)")
    parser.add_argument("--osm", type=Path, default=HEIDELBERG, help="the extract")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_build.json")
    args = parser.parse_args()
    sides = {"after": ""} | ({"before": args.before} if args.before else {})
    results: dict[str, list[dict[str, object]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        codes = {side: _code(rev, Path(tmp) / "code" / side) for side, rev in sides.items()}
        for side, code in codes.items():  # a checkout unpacked here compiles its numba kernels on its first build
            _build(code, args.osm, Path(tmp) / f"out-{side}-warm-up", Path(tmp) / f"cache-{side}-warm-up")
            print(f"{side}: one build to compile and cache the numba kernels (not counted)", flush=True)
        for round_ in range(args.rounds):
            for side in sorted(sides, reverse=round_ % 2 == 1):  # alternate who goes first
                cache = Path(tmp) / f"cache-{side}-{round_}"
                for kind in ("cold", "warm"):
                    out = Path(tmp) / f"out-{side}-{round_}-{kind}"
                    run = _build(codes[side], args.osm, out, cache)
                    run["cache"] = kind
                    results[side].append(run)
                    print(
                        f"round {round_ + 1} {side:<6} {kind}: {run['wall_s']:6.2f} s wall, {run['cpu_s']:6.2f} s CPU, "
                        f"load {run['load_before']:.2f} -> {run['load_after']:.2f}, {run['pdfs']} PDFs",
                        flush=True,
                    )
    print(_table(results))
    for name in _SAME:  # every build of one side must agree; the two sides differ where the code changed a file
        per_side = [{run["digests"][name] for run in runs} for runs in results.values()]
        if any(len(found) > 1 for found in per_side):
            verdict = "DIFFERENT between builds of the same code"
        else:
            verdict = "the same in every build" if len(set().union(*per_side)) == 1 else "changed by the code"
        print(f"{name}: {verdict}")
    print(f"\n{os.cpu_count()} cores; goal: whole build <= 15 s wall")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"osm": os.path.relpath(args.osm, ROOT), "revisions": sides, "cores": os.cpu_count(), "runs": results},
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
