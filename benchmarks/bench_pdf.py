"""PDF outing sheets of every Heidelberg school, before and after: pages, size, CPU per sheet, parallel wall time.

    .venv/bin/python benchmarks/bench_pdf.py [--data DIR] [--before REV] [--json PATH]

Without --data, Heidelberg is built first (``mapgen build --osm ../shared/data/osm/heidelberg.osm.pbf``)
into a temporary folder. ``--before REV`` (a git revision, default ``b3af7df``: the sheets before issue 19's whole-build work)
renders the same folder with that revision's ``mapgen/`` in a subprocess, in the same run, so both sides
see the same machine load. Prints per school pages, KB and CPU seconds of both, the map picture's size and
quality (PSNR against the old 200 dpi, quality 92 picture), and the batch wall time in one process and in
forked processes (``sheet_workers``); writes JSON. Goal: a Heidelberg build, sheets included, <= 15 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"
_BEFORE = r"""
import json, sys, time, subprocess
from pathlib import Path
from mapgen.publish.pdf import render_sheet
from mapgen.publish import fonts
from mapgen.publish.sheetdata import load_build
data, out = Path(sys.argv[1]), Path(sys.argv[2])
build, font = load_build(data), fonts.cjk_font_family()
# the cut-down font, as that revision's build uses it (revisions before it had none)
face = fonts.subset_font(font, fonts.sheet_characters(build), out) if hasattr(fonts, "subset_font") else None
rows = {}
for school_id in build.schools["school_id"]:
    cpu = time.process_time()
    pdf = render_sheet(build, school_id, font, face) if face else render_sheet(build, school_id, font)
    cpu = time.process_time() - cpu
    path = out / f"{school_id}.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    rows[school_id] = {"pages": int(info.split("Pages:")[1].split()[0]), "kb": len(pdf) // 1024, "cpu_s": cpu}
print(json.dumps(rows))
"""


def _pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(info.split("Pages:")[1].split()[0])


def _before(revision: str, data: Path) -> dict[str, dict[str, float]]:
    """Render every sheet with `revision`'s code (its mapgen/ unpacked into a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="bench-pdf-before-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "mapgen"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        out = Path(tmp) / "sheets"
        out.mkdir()
        # run from the unpacked folder: `python -c` puts the working directory first on sys.path
        done = subprocess.run(
            [sys.executable, "-c", _BEFORE, str(data), str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": tmp},
            cwd=tmp,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def _psnr(image: object, reference: object) -> float:
    import numpy as np

    a = np.asarray(image, dtype=float)
    b = np.asarray(reference.resize(image.size), dtype=np.float64)  # type: ignore[attr-defined]
    mse = float(((a - b) ** 2).mean())
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def main() -> None:
    """Run the benchmark and print/write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing Heidelberg build folder")
    parser.add_argument("--before", default="b3af7df", help="git revision of the sheets to compare with ('' = none)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "bench_pdf.json", help="JSON output")
    args = parser.parse_args()

    from PIL import Image

    from mapgen.config import city_from_osm
    from mapgen.pipeline import build_city
    from mapgen.publish.fonts import cjk_font_family, sheet_characters, subset_font
    from mapgen.publish.pdf import dot_classes, render_sheet, sheet_style, write_sheets
    from mapgen.publish.sheetdata import load_build, sheet_table
    from mapgen.publish.staticmap import school_map_jpeg

    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
        print(f"building Heidelberg into {data} ...")
        build_city(city_from_osm(HEIDELBERG), data, quiet=True)
    before = _before(args.before, data) if args.before else {}
    build, font = load_build(data), cjk_font_family()
    colors = {c.key: c.color for c in build.summary.categories}
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        face_cpu = time.process_time()
        face = subset_font(font, sheet_characters(build), Path(tmp))
        style = sheet_style(font, face, dot_classes(build))
        face_cpu = time.process_time() - face_cpu
        rows = []
        for school_id in build.schools["school_id"]:
            cpu = time.process_time()
            pdf = render_sheet(build, school_id, font, face, style)  # the stylesheet parsed once, as a build does
            cpu = time.process_time() - cpu
            path = Path(tmp) / f"{school_id}.pdf"
            path.write_bytes(pdf)
            table = sheet_table(build, school_id)
            markers = table.assign(color=table["category"].map(colors))[["number", "lon", "lat", "color", "section"]]
            school = build.schools.set_index("school_id").loc[school_id]
            iso = build.isochrones[build.isochrones["school_id"] == school_id]
            map_cpu = time.process_time()
            picture = school_map_jpeg(build.basemap, school.geometry, iso, markers, build.settings.main_roads)
            map_cpu = time.process_time() - map_cpu
            old = school_map_jpeg(
                build.basemap, school.geometry, iso, markers, build.settings.main_roads, dpi=200, quality=92
            )
            rows.append(
                {
                    "school_id": school_id,
                    "venues": len(table),
                    "pages": _pages(path),
                    "kb": len(pdf) // 1024,
                    "cpu_s": round(cpu, 3),
                    "map_cpu_s": round(map_cpu, 3),
                    "map_kb": len(picture.jpeg) // 1024,
                    "map_kb_200dpi_q92": len(old.jpeg) // 1024,
                    "map_psnr_db": round(
                        _psnr(Image.open(io.BytesIO(picture.jpeg)), Image.open(io.BytesIO(old.jpeg))), 1
                    ),
                    "moved_off_star": picture.moved,
                    **({f"before_{k}": v for k, v in before[school_id].items()} if school_id in before else {}),
                }
            )
    batch = {}
    for workers in (1, 0):
        folder = Path(tempfile.mkdtemp(prefix="bench-pdf-batch-"))
        for name in (
            "schools.geojson",
            "venues.geojson",
            "isochrones.geojson",
            "reachability.csv",
            "summary.json",
            "routes.csv",
            "basemap.parquet",
        ):
            (folder / name).write_bytes((data / name).read_bytes())
        copy = load_build(folder)
        copy = dataclasses.replace(copy, settings=copy.settings.model_copy(update={"sheet_workers": workers}))
        wall = time.perf_counter()
        write_sheets(copy)
        batch[workers or os.cpu_count() or 1] = round(time.perf_counter() - wall, 2)

    print(
        f"{'school_id':<16}{'venues':>7}{'pages':>6}{'KB':>5}{'CPU s':>7}{'map KB':>7}{'PSNR':>6}"
        f"{'| before: pages':>15}{'KB':>5}{'CPU s':>7}"
    )
    for r in rows:
        print(
            f"{r['school_id']:<16}{r['venues']:>7}{r['pages']:>6}{r['kb']:>5}{r['cpu_s']:>7.2f}{r['map_kb']:>7}"
            f"{r['map_psnr_db']:>6.1f}{r.get('before_pages', '-'):>15}{r.get('before_kb', '-'):>5}"
            f"{r.get('before_cpu_s', float('nan')):>7.2f}"
        )
    n = len(rows)
    total = {k: sum(r[k] for r in rows) for k in ("kb", "cpu_s")}
    before_total = {k: sum(r.get(f"before_{k}", 0) for r in rows) for k in ("kb", "cpu_s")}
    print(
        f"\n{n} sheets: {total['kb'] / 1024:.1f} MB, {total['cpu_s']:.1f} CPU s"
        + (f" (before: {before_total['kb'] / 1024:.1f} MB, {before_total['cpu_s']:.1f} CPU s)" if before else "")
    )
    print(f"font cut to the sheets' characters once per build: {face_cpu:.2f} CPU s")
    print(
        "write_sheets wall: "
        + ", ".join(f"{w} process{'es' if w > 1 else ''} {s:.1f} s" for w, s in batch.items())
        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    result = {
        "schools": n,
        "rows": rows,
        "total": total,
        "before_total": before_total,
        "before_rev": args.before,
        "font_subset_cpu_s": round(face_cpu, 2),
        "write_sheets_wall_s": batch,
        "load_average": os.getloadavg()[0],
        "cores": os.cpu_count(),
    }
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
