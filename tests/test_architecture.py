"""The app boundaries a reader relies on (docs/architecture.md). The import directions are
import-linter's contracts in pyproject.toml (`make lint`); these read the sources for what
import-linter cannot see: names, not modules."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "openkap"
# Django's own public API spelled with an underscore (a model's options).
DJANGO_PUBLIC = {"_meta"}


def _app_modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        if "migrations" in parts:
            continue
        yield path, (parts[0] if len(parts) > 1 else ""), ast.parse(path.read_text())


def _private_names_across_apps() -> list[str]:
    found = []
    for path, app, tree in _app_modules():
        other_app = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openkap."):
                owner = node.module.split(".")[1]
                for alias in node.names:
                    if owner != app:
                        other_app[alias.asname or alias.name] = owner
                        if alias.name.startswith("_"):
                            found.append(f"{path.relative_to(SRC)}:{node.lineno} imports {node.module}.{alias.name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in other_app
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr not in DJANGO_PUBLIC):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_apps_use_only_each_others_public_names():
    # An underscore name is its app's own business: another app asks through a public
    # service or selector, which stays put when the helper moves.
    assert _private_names_across_apps() == []


def test_the_check_sees_a_private_name_taken_across_apps(tmp_path, monkeypatch):
    # Its own app's private names are fine; another app's, imported or through a module, are not.
    app = tmp_path / "dosing"
    app.mkdir()
    (app / "views.py").write_text(
        "from openkap.pathway.services import _open_episode\nfrom openkap.ledger import services as ledger\n"
        "ledger._write()\nfrom openkap.dosing.services import _audit\n"
    )
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    assert _private_names_across_apps() == [
        "dosing/views.py:1 imports openkap.pathway.services._open_episode",
        "dosing/views.py:3 uses ledger._write",
    ]
