"""Where the project's files live, and the embedded defaults of a local run.

Every location can be overridden by an environment variable, so the same code runs from a
clone (the defaults below), in the docker-compose deployment and in tests.
"""
from __future__ import annotations

import os
from pathlib import Path

#: the repository root: plugins/supervision/paths.py -> ../../
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def include_dir() -> Path:
    """SQL, templates and configuration (``include/``)."""
    return _env_path("SUPERVISION_INCLUDE_DIR", PROJECT_ROOT / "include")


def sql_dir() -> Path:
    return include_dir() / "sql"


def templates_dir() -> Path:
    return include_dir() / "templates"


def config_dir() -> Path:
    return include_dir() / "config"


def default_inputs_dir() -> Path:
    """The landing area of SPEC §7 (sample data in a clone)."""
    return _env_path("SUPERVISION_INPUTS_DIR", PROJECT_ROOT / "var" / "landing")


def default_output_dir() -> Path:
    return _env_path("SUPERVISION_OUTPUT_DIR", PROJECT_ROOT / "output")


def default_outbox_dir(output_dir: Path | None = None) -> Path:
    """Where the embedded default 'sends' mail: one .eml file per message, beside the months."""
    return _env_path("SUPERVISION_OUTBOX_DIR", (output_dir or default_output_dir()) / "outbox")


def default_warehouse_url() -> str:
    """SQLAlchemy URL of the supervision warehouse (SQLite file by default)."""
    url = os.environ.get("SUPERVISION_WAREHOUSE_URL")
    if url:
        return url
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'warehouse.db'}"
