"""A build's extract read by a forked process while the build's own process imports the rest of its code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

# imported before the fork, so that the forked process starts reading at once (it needs places and what
# places imports, about half of a build's imports) and the build process imports only the rest meanwhile
from mapgen.places import feature_keys, load_extract
from mapgen.processes import beside, forks
from mapgen.progress import stage
from mapgen.taxonomy import load_taxonomy

if TYPE_CHECKING:
    import numpy as np

    from mapgen.config import CityConfig
    from mapgen.osm_extract import OsmExtract

# What :func:`load_extract_beside` yields: returns the extract and whether it was downloaded, waiting for it.
ExtractGetter = Callable[[], "tuple[OsmExtract, bool]"]


@contextmanager
def load_extract_beside(city: CityConfig, quiet: bool = False) -> Iterator[ExtractGetter | None]:
    """Load `city`'s extract (:func:`mapgen.places.load_extract`, cache included) in a forked process meanwhile.

    ``mapgen build`` forks it before it imports the rest of the build (this module imports
    :mod:`mapgen.places` first, which the read needs), so the read and those imports take the
    two cores at once. The extract that comes back is the
    one :func:`~mapgen.places.load_extract` returns (its street ways travel as
    :func:`mapgen.osm_extract.way_arrays`, not as 25,000 pickled objects).

    None where nothing is forked: the extract file is missing (the build then downloads, or
    says what to do), or :func:`mapgen.processes.forks` says no for ``settings.parallel_modes``.

    Parameters
    ----------
    city
        The build's city (its feature keys are the build's, :func:`mapgen.places.feature_keys`).
    quiet
        No progress output (while the extract is waited for, the stage ``Reading <file>``).

    Yields
    ------
    callable or None
        Returns ``(extract, downloaded)``, waiting for the process; raises what the read raised.
    """
    if city.osm is None or not city.osm.is_file() or not forks(city.settings.parallel_modes):
        yield None
        return
    name = city.osm.name
    with beside(partial(_load, city)) as loaded:

        def extract() -> tuple[OsmExtract, bool]:
            from mapgen.osm_extract import ways_from_arrays

            with stage(f"Reading {name}", quiet=quiet):
                ways, rest, downloaded = loaded()
                return dataclasses.replace(rest, highways=ways_from_arrays(ways)), downloaded

        yield extract


def _load(city: CityConfig) -> tuple[dict[str, np.ndarray], OsmExtract, bool]:
    """The forked process: the street ways as arrays, the rest of the extract, and whether it was downloaded."""
    from mapgen.osm_extract import way_arrays

    extract, downloaded = load_extract(city, feature_keys(city, load_taxonomy(city.categories)), quiet=True)
    return way_arrays(extract.highways), dataclasses.replace(extract, highways=[]), downloaded
