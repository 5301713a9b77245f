"""Packaging: the license the metadata declares is in the repository, the package says
it is typed (PEP 561) and installs the marker, the metadata has its classifiers, the
dataset cache follows the XDG rule, and nothing cites a file the repository does not
hold."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_the_declared_license_is_the_license_file():
    project = _pyproject()["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert "License :: OSI Approved :: MIT License" in project["classifiers"]
    assert _pyproject()["tool"]["setuptools"]["license-files"] == ["LICENSE"]


def test_the_package_is_marked_typed_and_installs_the_marker():
    import importlib.resources

    assert (importlib.resources.files("snnkit") / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["snnkit"]
    assert "Typing :: Typed" in _pyproject()["project"]["classifiers"]


def test_classifiers_name_the_python_the_project_requires():
    project = _pyproject()["project"]
    assert project["requires-python"] == ">=3.11,<3.12"
    versions = [c.rsplit(":: ", 1)[1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")]
    assert versions == ["3.11"]


@pytest.mark.parametrize("snnkit_cache, xdg, expected", [
    (None, None, "HOME/.cache/snnkit"),
    (None, "TMP/xdg", "TMP/xdg/snnkit"),
    (None, "relative/xdg", "HOME/.cache/snnkit"),  # XDG: a relative path is ignored
    ("TMP/mine", "TMP/xdg", "TMP/mine"),            # SNNKIT_CACHE wins
    ("", "TMP/xdg", "TMP/xdg/snnkit"),              # set but empty: unset
])
def test_the_cache_follows_snnkit_cache_then_xdg_cache_home(
        snnkit_cache, xdg, expected, monkeypatch, tmp_path):
    from snnkit.data.datasets import cache_dir

    def place(value):
        return value.replace("TMP", str(tmp_path)).replace("HOME", str(tmp_path / "home"))

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name, value in (("SNNKIT_CACHE", snnkit_cache), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, place(value))
    assert cache_dir() == Path(place(expected))


def _repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_no_file_cites_a_document_the_repository_does_not_hold():
    """A ``.md`` or ``.ipynb`` named in the code, the tests or a README exists in the
    repository (a retired baseline document or notebook is described, not cited)."""
    files = _repository_files()
    names = {path.name for path in files}
    cited = re.compile(r"(?<![\w/.:-])([\w./-]+\.(?:md|ipynb))\b")
    missing = []
    for path in files:
        if path.suffix not in (".py", ".md", ".toml") and path.name != "Makefile":
            continue
        for match in cited.finditer(path.read_text(errors="replace")):
            name = match.group(1)
            if not ((ROOT / name).exists() or (path.parent / name).exists()
                    or Path(name).name in names):
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing
