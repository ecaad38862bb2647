"""Time the PDF outing sheets of every Heidelberg school (goal: <= 2 s per school).

    .venv/bin/python benchmarks/bench_pdf.py [--data DIR] [--json PATH]

Without --data, Heidelberg is built first (``mapgen build --osm ../shared/data/osm/heidelberg.osm.pbf``)
into a temporary folder. Prints a table per school (wall and CPU seconds, map share, pages, size) and
writes JSON. The baseline, measured in the same run, is WeasyPrint rendering a one-page sheet with the
same CJK font and no map or table: the fixed cost of the renderer per document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"


def _timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Run the benchmark and print/write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing Heidelberg build folder")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "bench_pdf.json", help="JSON output")
    args = parser.parse_args()

    from weasyprint import HTML

    from mapgen.config import city_from_osm
    from mapgen.pipeline import build_city
    from mapgen.publish.pdf import cjk_font_family, load_build, render_sheet, sheet_table
    from mapgen.publish.staticmap import school_map_jpeg

    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
        print(f"building Heidelberg into {data} ...")
        build_city(city_from_osm(HEIDELBERG), data, quiet=True)
    (build, load_wall, _), font = _timed(lambda: load_build(data)), cjk_font_family()
    colors = {c["key"]: c["color"] for c in build.summary["categories"]}  # type: ignore[attr-defined]

    rows = []
    batch_wall, batch_cpu = time.perf_counter(), time.process_time()
    for school_id in build.schools["school_id"]:
        pdf, wall, cpu = _timed(lambda s=school_id: render_sheet(build, s, font))
        path = data / "schools" / f"{school_id}.pdf"
        path.write_bytes(pdf)
        table = sheet_table(build, school_id)
        pages = int(subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
                    .stdout.split("Pages:")[1].split()[0])
        rows.append({"school_id": school_id, "venues": len(table), "pages": pages, "kb": len(pdf) // 1024,
                     "wall_s": wall, "cpu_s": cpu})
    batch_wall, batch_cpu = time.perf_counter() - batch_wall, time.process_time() - batch_cpu

    for row in rows:  # the map alone
        school = build.schools.set_index("school_id").loc[row["school_id"]]
        table = sheet_table(build, row["school_id"])
        markers = table.assign(color=table["category"].map(colors))[["number", "lon", "lat", "color", "section"]]
        _, _, row["map_cpu_s"] = _timed(lambda school=school, markers=markers, sid=row["school_id"]: school_map_jpeg(
            build.basemap, school.geometry, build.isochrones[build.isochrones["school_id"] == sid], markers,
            build.settings.main_roads,
        ))
    baseline_html = (f'<html style="font-family: \'{font}\'"><body><h1>深圳市龙岗区 学校</h1>'
                     "<p>步行 15 分钟 walk · 骑行 bike · © OpenStreetMap contributors</p></body></html>")
    baseline = [_timed(lambda: HTML(string=baseline_html).write_pdf()) for _ in range(5)]
    base_wall = sum(b[1] for b in baseline) / len(baseline)
    base_cpu = sum(b[2] for b in baseline) / len(baseline)

    n = len(rows)
    print(f"{'school_id':<18}{'venues':>7}{'pages':>6}{'KB':>6}{'wall s':>8}{'CPU s':>7}{'map CPU s':>10}")
    for r in rows:
        print(f"{r['school_id']:<18}{r['venues']:>7}{r['pages']:>6}{r['kb']:>6}{r['wall_s']:>8.2f}{r['cpu_s']:>7.2f}"
              f"{r['map_cpu_s']:>10.2f}")
    per_wall, per_cpu = batch_wall / n, batch_cpu / n
    print(f"\n{n} schools: batch {batch_wall:.1f} s wall, {batch_cpu:.1f} s CPU -> {per_wall:.2f} s wall, "
          f"{per_cpu:.2f} s CPU per school (goal <= 2 s); build folder read in {load_wall:.2f} s")
    print(f"baseline (one-page CJK document, same renderer and font): {base_wall:.3f} s wall, {base_cpu:.3f} s CPU; "
          f"sheet/baseline CPU ratio {per_cpu / base_cpu:.1f}")
    result = {
        "schools": n, "batch_wall_s": round(batch_wall, 2), "batch_cpu_s": round(batch_cpu, 2),
        "per_school_wall_s": round(per_wall, 3), "per_school_cpu_s": round(per_cpu, 3), "goal_s": 2.0,
        "load_build_s": round(load_wall, 3), "baseline_wall_s": round(base_wall, 3),
        "baseline_cpu_s": round(base_cpu, 3), "ratio_cpu_vs_baseline": round(per_cpu / base_cpu, 2),
        "font": font, "per_school": rows,
    }
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
