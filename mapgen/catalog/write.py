"""Write a catalogue import: venues.geojson, review.csv (rejected rows) and changes.csv (since the last import)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from mapgen.catalog.build import CatalogueImport
from mapgen.catalog.diff import diff_venues
from mapgen.config import CatalogueSettings
from mapgen.contract import CHANGES_FILE, REVIEW_FILE, VENUES_FILE
from mapgen.errors import InputFileError
from mapgen.textsafe import write_person_csv


def write_import(
    result: CatalogueImport, out_dir: str | Path, previous: str | Path | None, settings: CatalogueSettings
) -> dict[str, str]:
    """Write an import: ``venues.geojson``, ``review.csv`` (when rows were rejected), ``changes.csv``.

    Parameters
    ----------
    result
        What :func:`import_catalogue` produced.
    out_dir
        Output folder (created).
    previous
        The ``venues.geojson`` of an earlier import of the same list; ``changes.csv`` lists
        what was added, removed, moved or changed since. Read before being overwritten, so it
        may be ``out_dir/venues.geojson`` itself.
    settings
        ``moved_m`` for the diff.

    Returns
    -------
    dict
        Output name → path.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: --out is a file, not a folder")
    paths = {"venues": out / VENUES_FILE, "review": out / REVIEW_FILE, "changes": out / CHANGES_FILE}
    if result.source is not None and result.source.exists():
        for target in paths.values():
            if target.exists() and target.samefile(result.source):
                raise InputFileError(
                    f"{result.source}: the import would overwrite its own source file "
                    f"({target.name} in {out}); choose another --out folder"
                )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{out}: cannot create the output folder ({exc.strerror})") from exc
    old = gpd.read_file(previous, engine="pyogrio") if previous is not None and Path(previous).is_file() else None
    frame = result.venues.drop(columns="footprint")
    paths["venues"].unlink(missing_ok=True)
    frame.to_file(paths["venues"], driver="GeoJSON", engine="pyogrio")
    if len(result.review):
        write_person_csv(result.review.frame(), paths["review"])
    else:
        paths["review"].unlink(missing_ok=True)
        del paths["review"]
    if old is not None:
        write_person_csv(diff_venues(old, frame, settings.moved_m), paths["changes"])
    else:
        paths["changes"].unlink(missing_ok=True)
        del paths["changes"]
    return {k: str(v) for k, v in paths.items()}
