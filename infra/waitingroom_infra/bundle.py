"""The Lambda code asset: the project and its runtime dependencies, vendored with pip.

No Docker: ``pip install --target`` with manylinux wheels for the Lambda runtime's Python and
architecture, so the asset builds on any machine with network access to the package index, once.
Later synths reuse the build directory as long as the project's sources and ``pyproject.toml``
are unchanged (a stamp file holds their hash), so ``cdk synth`` then works offline.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "infra" / "build" / "lambda"
PACKAGES = ("core", "oidc_adaptor", "authorizer")
PYTHON_VERSION = "3.12"
PLATFORM = "manylinux2014_aarch64"  # the functions run on arm64 (Graviton)
PROVIDED_BY_RUNTIME = {"boto3", "botocore"}


def _source_hash() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update(f"{PYTHON_VERSION} {PLATFORM}".encode())
    return digest.hexdigest()


def requirements() -> list[str]:
    """Runtime dependencies plus the ``aws`` extra, without what the Lambda runtime provides."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["aws"]]
    return [r for r in wanted if r.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
            not in PROVIDED_BY_RUNTIME]


def build(target: Path = BUILD_DIR, progress: Callable[[str], None] = print, force: bool = False) -> Path:
    """Build (or reuse) the asset directory and return it."""
    stamp = target / ".source-hash"
    wanted = _source_hash()
    if not force and stamp.exists() and stamp.read_text() == wanted:
        progress(f"lambda asset: up to date in {target}")
        return target
    deps = target.parent / "lambda-deps"
    deps_stamp = deps / ".requirements"
    reqs = requirements()
    if force or not deps_stamp.exists() or deps_stamp.read_text() != "\n".join(reqs):
        progress(f"lambda asset: installing {len(reqs)} dependencies for Python {PYTHON_VERSION} {PLATFORM} ...")
        shutil.rmtree(deps, ignore_errors=True)
        deps.mkdir(parents=True)
        subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(deps),
             "--platform", PLATFORM, "--python-version", PYTHON_VERSION, "--implementation", "cp",
             "--only-binary=:all:", *reqs],
            check=True,
        )
        deps_stamp.write_text("\n".join(reqs))
    progress("lambda asset: copying dependencies and project packages ...")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(deps, target, ignore=shutil.ignore_patterns(".requirements", "__pycache__"))
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    stamp.write_text(wanted)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    progress(f"lambda asset: ready in {target} ({size / 1e6:.1f} MB)")
    return target


def source_only(target: Path) -> Path:
    """An asset with only the project packages (tests: the template does not depend on the contents)."""
    if not target.exists():
        target.mkdir(parents=True)
        for package in PACKAGES:
            shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


if __name__ == "__main__":
    build(force="--force" in sys.argv)
