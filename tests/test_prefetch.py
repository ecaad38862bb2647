"""The extract loaded beside the build's imports (mapgen.prefetch) is the extract the build loads itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import CITIES, shared_file

from mapgen.config import load_city
from mapgen.places import feature_keys, load_extract
from mapgen.prefetch import load_extract_beside
from mapgen.taxonomy import load_taxonomy


def test_the_extract_loaded_beside_is_the_extract_loaded_here(tmp_path) -> None:
    shared_file("osm", "nanjing-xinjiekou.osm")
    for cache in ("cold", "warm"):  # the forked process parses the file, then loads what it cached
        city = load_city(CITIES / "nanjing-xinjiekou.toml", cache_dir=tmp_path)
        with load_extract_beside(city, quiet=True) as early:
            assert early is not None, cache
            beside, downloaded = early()
        here, _ = load_extract(city, feature_keys(city, load_taxonomy(city.categories)), quiet=True)
        assert not downloaded and len(beside.highways) == len(here.highways) > 300
        for a, b in zip(beside.highways, here.highways, strict=True):
            assert a.way_id == b.way_id and a.tags == b.tags
            np.testing.assert_array_equal(a.node_ids, b.node_ids)
            np.testing.assert_array_equal(a.lonlat, b.lonlat)
        pd.testing.assert_frame_equal(beside.features, here.features)
        assert len(beside.features) > 1000
        assert (beside.source, beside.box, beside.data_date) == (here.source, here.box, here.data_date)


def test_nothing_is_forked_for_a_missing_extract_or_without_parallel_modes(tmp_path) -> None:
    city = load_city(CITIES / "nanjing-xinjiekou.toml", cache_dir=tmp_path)
    for other in (
        city.model_copy(update={"osm": tmp_path / "missing.osm"}),
        city.model_copy(update={"settings": city.settings.model_copy(update={"parallel_modes": False})}),
    ):
        with load_extract_beside(other, quiet=True) as early:
            assert early is None
