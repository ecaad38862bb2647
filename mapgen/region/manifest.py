"""Skipping unchanged areas: the fingerprint of an area's inputs and the manifest a finished build leaves."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from mapgen.config import AreaConfig, RegionConfig
from mapgen.contract import SUMMARY_FILE

MANIFEST_FILE = "manifest.json"
_PACKAGE = Path(__file__).resolve().parents[1]  # mapgen/: every module an area's outputs depend on


def area_fingerprint(region: RegionConfig, area: AreaConfig) -> dict[str, object]:
    """Hashes of everything an area's outputs depend on: its configuration, input files and mapgen's code.

    Parameters
    ----------
    region, area
        The region and one of its areas.

    Returns
    -------
    dict
        ``config``, ``files`` (path → sha256), ``code``, ``buffer_m`` and their combined ``digest``.
    """
    inputs = [
        area.osm,
        area.schools_csv,
        area.categories,
        *(p for c in area.catalogues for p in (c.file, *c.gazetteers)),
        area.school_list.file if area.school_list else None,
    ]
    files = {str(p): _sha256(p) for p in inputs if p is not None and p.exists()}
    code = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        code.update(path.read_bytes())
    fp: dict[str, object] = {
        "config": area.model_dump(mode="json"),
        "files": files,
        "code": code.hexdigest(),
        "buffer_m": region.buffer_m(area),
    }
    fp["digest"] = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()
    return fp


def is_unchanged(area_dir: Path, fingerprint: dict[str, object]) -> bool:
    """Whether `area_dir` holds a complete build made from exactly these inputs."""
    path = area_dir / MANIFEST_FILE
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return (
        manifest.get("status") == "built"
        and manifest.get("digest") == fingerprint["digest"]
        and (area_dir / SUMMARY_FILE).is_file()
    )


def write_manifest(area_dir: Path, fingerprint: dict[str, object], status: str, error: str = "") -> None:
    """Record in `area_dir` that its build from `fingerprint` ended with `status` (``built`` or ``failed``)."""
    manifest = {**fingerprint, "status": status, "error": error, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (area_dir / MANIFEST_FILE).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
