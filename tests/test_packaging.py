"""A wheel built from this checkout carries the page and the bundled models, and works outside it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rnnviz.models.architectures import CONFIG_FILE, WEIGHTS_FILE, bundled_names

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import setuptools

        isolated = (
            int(setuptools.__version__.split(".")[0]) < 68
        )  # pyproject asks for setuptools>=68
    except ImportError:
        isolated = True
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        "-w",
        str(out),
        str(REPO_ROOT),
    ] + ([] if isolated else ["--no-build-isolation"])
    subprocess.run(command, check=True, timeout=600)
    (built,) = out.glob("rnnviz-*.whl")
    return built


def test_the_wheel_ships_the_page_and_every_bundled_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert (
        "rnnviz/app/page.py" in names
        and "rnnviz/app/views/lab.py" in names
        and "rnnviz/figures/heatmaps.py" in names
        and "rnnviz/app/serve.py" in names  # what `rnnviz app` runs: the page and the join routes
        and "rnnviz/classroom/routes.py" in names
    )
    assert bundled_names(), "the checkout has bundled models"
    for name in bundled_names():
        for file in (CONFIG_FILE, WEIGHTS_FILE, "README.md"):
            assert f"rnnviz/pretrained/{name}/{file}" in names


def test_an_installed_wheel_loads_the_bundled_models_without_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import json, rnnviz, rnnviz.models.architectures as m\n"
        "print(json.dumps({'dir': str(m.PRETRAINED_DIR), 'names': m.bundled_names(),\n"
        "                  'labels': rnnviz.load('sst2-lstm').config.labels}))\n"
    )
    # Run from elsewhere with only the unpacked wheel on the path (and the venv's dependencies).
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["dir"]) == site / "rnnviz" / "pretrained"
    assert found["names"] == bundled_names()
    assert found["labels"] == ["negative", "positive"]
