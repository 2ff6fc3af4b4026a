"""Shared fixtures: where the shared data lives, and a skip marker when it is absent.

CI runs on a fresh clone that may lack ../shared/data; tests that need it skip
with a reason naming the missing path, all others always run.
"""

from __future__ import annotations

import os

import pytest

from rnnviz.settings import shared_data_dir  # one rule for finding the data

DATA_DIR = shared_data_dir()

SST2_DIR = DATA_DIR / "sst2"
SHAKESPEARE = DATA_DIR / "tinyshakespeare" / "input.txt"

needs_sst2 = pytest.mark.skipif(
    not (SST2_DIR / "dev.tsv").is_file(),
    reason=f"SST-2 data not found at {SST2_DIR} (set RNNVIZ_DATA_DIR)",
)
needs_shakespeare = pytest.mark.skipif(
    not SHAKESPEARE.is_file(),
    reason=f"Tiny Shakespeare not found at {SHAKESPEARE} (set RNNVIZ_DATA_DIR)",
)

# Tiny models gain nothing from intra-op threads, and on a busy 2-core machine
# spinning OpenMP workers slow them down by orders of magnitude.
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def classroom_data_home(tmp_path_factory):
    """The Class view's rooms (SQLite) go to a folder of this test session, never the user's home."""
    os.environ["RNNVIZ_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
