"""Venue catalogues: read, check, locate, categorise, merge with OSM venues, compare versions and write them."""

from mapgen.catalog.build import CatalogueImport, add_catalogues, import_catalogue
from mapgen.catalog.checks import CONTROL_CHARS, MARKUP, parse_coordinate
from mapgen.catalog.columns import FIELD_ALIASES, map_columns
from mapgen.catalog.datums import check_datum
from mapgen.catalog.diff import diff_venues
from mapgen.catalog.gazetteer import Gazetteer, build_gazetteer, merge_gazetteers, read_gazetteer
from mapgen.catalog.geocode import OnlineLookup, geocode
from mapgen.catalog.merge import merge_venues
from mapgen.catalog.read import RawTable, read_table, wide_csv_fields
from mapgen.catalog.write import write_import

__all__ = [
    "CONTROL_CHARS",
    "FIELD_ALIASES",
    "MARKUP",
    "CatalogueImport",
    "Gazetteer",
    "OnlineLookup",
    "RawTable",
    "add_catalogues",
    "build_gazetteer",
    "check_datum",
    "diff_venues",
    "geocode",
    "import_catalogue",
    "map_columns",
    "merge_gazetteers",
    "merge_venues",
    "parse_coordinate",
    "read_gazetteer",
    "read_table",
    "wide_csv_fields",
    "write_import",
]
