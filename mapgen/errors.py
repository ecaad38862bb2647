"""Exception classes for user errors: bad input files, empty areas, bad settings."""

from __future__ import annotations


class MapgenError(Exception):
    """Base class for every error mapgen reports to its user (no traceback in the CLI)."""


class InputFileError(MapgenError, ValueError):
    """Exception for an input file that is missing, unreadable or of the wrong kind."""


class ConfigError(MapgenError, ValueError):
    """Exception for a city configuration or command-line setting that is invalid."""


class EmptyNetworkError(MapgenError, ValueError):
    """Exception for an area that has no street network for a travel mode."""


class NoSchoolsError(MapgenError, ValueError):
    """Exception for an extract (or school list) that yields no schools."""


class DownloadError(MapgenError, RuntimeError):
    """Exception for a failed download of OSM data (offline, blocked, server error)."""


class RegionError(MapgenError, RuntimeError):
    """Exception for a region build that cannot run (e.g. its Dask scheduler cannot be reached)."""


class SystemPackageError(MapgenError, RuntimeError):
    """Exception for a missing system (Debian) package that an optional output needs; the message names it."""


class FontError(SystemPackageError):
    """Exception for a missing font: the PDF sheets need one with Chinese glyphs (fonts-noto-cjk)."""


class IncompleteBuildError(MapgenError, RuntimeError):
    """Exception for a ``--strict`` build that had to skip an optional output (listed in ``summary.json``)."""


class SolverError(MapgenError, RuntimeError):
    """Exception for an optimisation (siting) problem the solver could not solve to optimality."""
