"""The docs stay honest: every CLI option, city setting and contract column is documented."""

from __future__ import annotations

import re

import click
import typer.main

from mapgen import contract
from mapgen.cli import app
from mapgen.config import CityConfig, Settings, TileProvider
from tests.conftest import ROOT

DOCS = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_cli_option_has_help_and_is_documented() -> None:
    root = typer.main.get_command(app)
    missing = []
    checked = 0
    for name, command in _commands(root):
        assert f"mapgen {name}" in DOCS, f"command `mapgen {name}` is not in README/docs"
        for param in command.params:
            if param.param_type_name == "option":  # typer's TyperOption is not a click.Option subclass
                checked += 1
                assert param.help, f"mapgen {name} {param.opts[0]} has no help text"
                if not any(opt in DOCS for opt in param.opts):
                    missing.append(f"mapgen {name} {param.opts[0]}")
    assert checked >= 30  # every command's options were looked at (38 when written)
    assert missing == []


def test_every_city_setting_is_documented() -> None:
    config_doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for model, prefix in ((CityConfig, ""), (Settings, "[settings] "), (TileProvider, "[tiles] ")):
        for field in model.model_fields:
            if field in ("settings", "tiles"):
                continue
            assert re.search(rf"`[^`\n]*\b{field}\b[^`\n]*`", config_doc), f"{prefix}{field} undocumented"


def test_every_contract_column_is_documented() -> None:
    """Every file, column and summary entry of mapgen.contract appears in docs/output-contract.md."""
    doc = (ROOT / "docs" / "output-contract.md").read_text(encoding="utf-8")
    columns = [
        *contract.SCHOOL_COLUMNS,
        *contract.VENUE_COLUMNS,
        *contract.TRUTH_COLUMNS,
        *contract.ISOCHRONE_COLUMNS,
        *contract.PAIR_COLUMNS,
        *contract.ROUTE_COLUMNS,
        *contract.REVIEW_COLUMNS,
        *contract.CHANGE_COLUMNS,
    ]
    files = [
        *contract.CONTRACT_FILES.values(),
        *contract.SHEET_INPUTS.values(),
        contract.REVIEW_FILE,
        contract.INDEX_FILE,
        contract.SITE_DB_FILE,
        f"{contract.SCHOOL_PAGES_DIR}/<school_id>.pdf",
        contract.CHANGES_FILE,
    ]
    entries = [
        *contract.Summary.model_fields,
        *contract.SummaryCounts.model_fields,
        *contract.SummarySource.model_fields,
    ]
    missing = [name for name in [*columns, *files, *entries] if f"`{name}`" not in doc]
    assert not missing, f"not in docs/output-contract.md: {missing}"
    assert f"contract version {contract.CONTRACT_VERSION}" in doc
