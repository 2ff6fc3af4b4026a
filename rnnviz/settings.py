"""Where things live, read from the environment at each call (so tests and deployments can move them)."""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """$RNNVIZ_DATA_DIR, else the nearest `shared/data` beside the checkout or any folder above it
    (a clone in a scratch folder still finds the project's data), else `../shared/data`."""
    if "RNNVIZ_DATA_DIR" in os.environ:
        return Path(os.environ["RNNVIZ_DATA_DIR"])
    for folder in REPOSITORY.parents:
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return REPOSITORY.parent / "shared" / "data"


def data_home() -> Path:
    """Where the app keeps what must outlive a server process (the classroom's rooms and sentences):
    $RNNVIZ_DATA_HOME, else $XDG_DATA_HOME/rnnviz, else ~/.local/share/rnnviz."""
    if os.environ.get("RNNVIZ_DATA_HOME"):
        return Path(os.environ["RNNVIZ_DATA_HOME"])
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "rnnviz"
    return Path.home() / ".local" / "share" / "rnnviz"


def classroom_database() -> Path:
    """The SQLite file of the classroom's rooms (one file, shared by every replica on one host)."""
    return data_home() / "classroom.sqlite3"


def public_url() -> str | None:
    """$RNNVIZ_PUBLIC_URL: the address phones reach this server at (http://192.168.1.20:8501), where
    the lecturer's own browser uses another (localhost); None: the lecturer's address is used."""
    return os.environ.get("RNNVIZ_PUBLIC_URL", "").strip().rstrip("/") or None
