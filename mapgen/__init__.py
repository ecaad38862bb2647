"""mapgen: 15-minute activity circles for schools, from an OSM extract to maps, PDF sheets and a search site."""

# The one place the version is written: pyproject.toml reads it from here ([tool.setuptools.dynamic]).
__version__ = "0.2.0"
