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


class MissingExtraError(SystemPackageError):
    """Exception for a Python package of an optional part (an extra) that is not installed; the message names it.

    Parameters
    ----------
    package
        The module that failed to import (e.g. ``weasyprint``).
    extra
        The extra that installs it (e.g. ``pdf``: ``pip install 'mapgen[pdf]'``).
    needed_for
        What needs it, for the message (e.g. ``the PDF sheets``).
    """

    def __init__(self, package: str, extra: str, needed_for: str) -> None:
        super().__init__(
            f"{needed_for} need the Python package {package}, which is not installed; "
            f"install it with `pip install 'mapgen[{extra}]'`"
        )
        self.package, self.extra = package, extra


class IncompleteBuildError(MapgenError, RuntimeError):
    """Exception for a ``--strict`` build that had to skip an optional output (listed in ``summary.json``)."""


class SolverError(MapgenError, RuntimeError):
    """Exception for an optimisation (siting) problem the solver could not solve to optimality."""
