"""The web app's rooms import only downwards, as ``oidc_adaptor/__init__.py`` lays them out.

Entry points may import anything; ``app.py`` the surfaces and what is below them; a surface
(``oidc``, ``rest_api``, ``admin_api``, ``ops``, ``panel``) its own room, ``background`` and
``plumbing``, never another surface; ``background`` only ``plumbing``; ``plumbing`` only itself.
``core`` imports nothing of the web app.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SURFACES = {"oidc", "rest_api", "admin_api", "ops", "panel"}
BELOW_SURFACES = {"background", "plumbing"}


def _room(module: str) -> str:
    """``oidc_adaptor.plumbing.auth`` -> ``plumbing``; ``oidc_adaptor.app`` -> ``app``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imported_modules(path: Path) -> set[str]:
    """Every module of the project a file imports, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _allowed(importer_room: str, imported_room: str) -> bool:
    if importer_room in {"entrypoints", "cli", "wsgi", "lambda_handlers"}:
        return True
    if importer_room == "app":
        return imported_room in SURFACES | BELOW_SURFACES
    if importer_room in SURFACES:
        return imported_room in {importer_room} | BELOW_SURFACES
    if importer_room == "background":
        return imported_room in {"background", "plumbing"}
    if importer_room == "plumbing":
        return imported_room == "plumbing"
    return False


WEB_FILES = sorted((ROOT / "oidc_adaptor").rglob("*.py"))


@pytest.mark.parametrize("path", WEB_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_web_app_rooms_import_only_downwards(path: Path) -> None:
    importer = _room(_module_name(path))
    wrong = sorted(
        module
        for module in _imported_modules(path)
        if module.startswith("oidc_adaptor.")
        and _room(module) not in {importer, ""}
        and _room(module) in SURFACES | BELOW_SURFACES | {"app", "entrypoints", "cli", "wsgi", "lambda_handlers"}
        and not _allowed(importer, _room(module))
    )
    assert not wrong, f"{path.relative_to(ROOT)} ({importer}) imports {wrong} from a room above or beside it"


def test_core_imports_nothing_of_the_web_app() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in {"oidc_adaptor", "flask"}
        )
        for path in (ROOT / "core").rglob("*.py")
    }
    assert not {path: mods for path, mods in offenders.items() if mods}


def test_the_room_rules_reject_an_upward_import() -> None:
    """The checker itself: plumbing importing a surface, or a surface importing another, is caught."""
    assert not _allowed("plumbing", "rest_api")
    assert not _allowed("oidc", "admin_api")
    assert not _allowed("background", "oidc")
    assert _allowed("oidc", "plumbing")
