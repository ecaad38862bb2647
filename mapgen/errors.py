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


class SolverError(MapgenError, RuntimeError):
    """Exception for an optimisation (siting) problem the solver could not solve to optimality."""
