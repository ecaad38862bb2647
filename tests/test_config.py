"""City and region TOML files: malformed tables are one clear ConfigError naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapgen.config import load_city, load_region
from mapgen.errors import ConfigError


def _toml(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('settings = "fast"\n', r"invalid configuration: settings: Input should be a valid dictionary"),
        ("catalogues = 5\n", r"invalid configuration: catalogues: Input should be a valid tuple"),
        (
            "download_bbox = [8.7, 49.4, 8.6, 49.5]\n",
            r"download_bbox: Value error, download_bbox must be \[west, south, east, north\] with west < east",
        ),
    ],
)
def test_malformed_city_table_names_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    city = _toml(tmp_path, "town.toml", 'osm = "town.osm"\n' + body)
    with pytest.raises(ConfigError, match=message) as caught:
        load_city(city, walk_kmh=5)
    assert str(caught.value).startswith(f"{city}: ")


def test_city_settings_take_overrides_and_keep_the_rest(tmp_path: Path) -> None:
    city = load_city(
        _toml(tmp_path, "town.toml", "[settings]\nminutes = 10\nbike_kmh = 14\n"), bike_kmh=16, walk_kmh=None
    )
    assert (city.name, city.settings.minutes, city.settings.bike_kmh, city.settings.walk_kmh) == ("town", 10, 16, 4)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("areas = 5\n", r"areas must be an array of tables \(\[\[areas\]\]\)"),
        ('settings = "fast"\n[[areas]]\nname = "a"\n', r"areas\.0\.settings: Input should be a valid dictionary"),
        (
            '[[areas]]\nname = "a"\nbbox = [8.6, 49.5, 8.7, 49.4]\n',
            r"areas\.0\.bbox: Value error, bbox must be \[west, south, east, north\] with west < east",
        ),
    ],
)
def test_malformed_region_table_names_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    region = _toml(tmp_path, "region.toml", body)
    with pytest.raises(ConfigError, match=message) as caught:
        load_region(region)
    assert str(caught.value).startswith(f"{region}: ")
