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


# --- every public service function names its actor (issue 14.1) ------------------------------

# Entry points with no signed-in actor yet: each establishes who acts (a password, a code, a
# single-use token, an API key) or runs as the clinic's own scheduled job.
ENTRY_POINTS = {
    "accounts.services.login_attempt": "signs a person in: the password decides who acts",
    "accounts.services.login_succeeded": "the person just proved who they are",
    "accounts.services.mfa_begin_enrolment": "the signed-in user enrols their own second factor",
    "accounts.services.mfa_confirm_enrolment": "the user's own code confirms it",
    "accounts.services.mfa_verify": "the second factor decides who acts",
    "accounts.services.invitation_for_token": "a single-use invitation token",
    "accounts.services.invitation_accept": "a single-use invitation token",
    "accounts.services.api_token_authenticate": "the API key decides who acts",
    "audit.services.record_refusal": "records a refused request; its actor travels in the refusal",
    "ledger.services.statements.wait_durable": "writes nothing: waits until the WAL is on disk (ADR 0107)",
    "measures.services.links.link_open": "a patient's single-use questionnaire link",
    "measures.services.links.link_answer": "a patient's single-use questionnaire link",
    "measures.services.links.link_submit": "a patient's single-use questionnaire link",
    "measures.services.assignments.sync_all_schedules": "the nightly job (openkap measure_schedules)",
    "pathway.services.integration.integration_overdue_tasks": "the daily job (openkap integration_tasks)",
    "patients.services.portal_invitation_for_token": "a single-use portal invitation token",
    "patients.services.portal_invitation_accept": "a single-use portal invitation token",
    "referrals.services.referral_submit": "an anonymous visitor's referral form",
    "referrals.services.record_automated": "an anonymous visitor's refused form",
    "referrals.services.status_link_use": "a single-use status link",
    "scheduling.services.feeds.calendar_feed_authenticate": "the calendar feed's secret address",
}

def _service_functions_without_actor(src: Path) -> set[str]:
    found = set()
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).parts
        in_package = len(parts) == 3 and parts[1] == "services" and parts[2] != "__init__.py"
        if not (in_package or parts[1:] == ("services.py",)):
            continue
        module = ".".join((*parts[:-1], path.stem)) if in_package else f"{parts[0]}.services"
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                args = node.args
                if "by" not in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
                    found.add(f"{module}.{node.name}")
    return found


def test_public_service_functions_take_an_actor():
    # A write says who does it (`by=`): the permission check and the audit row need the
    # actor. A helper without one is private (`_name`), a read is a selector.
    found = _service_functions_without_actor(SRC)
    assert found - set(ENTRY_POINTS) == set(), "take `by=`, or make it private or a selector"
    assert set(ENTRY_POINTS) - found == set(), "gone or given an actor: take it off ENTRY_POINTS"


def test_the_actor_check_sees_a_service_function_without_one(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "services.py").write_text(
        "def task_close(*, by, task_id): ...\ndef care_team(patient): ...\ndef _helper(x): ...\n"
    )
    (tmp_path / "dosing" / "services").mkdir(parents=True)
    (tmp_path / "dosing" / "services" / "orders.py").write_text("def compute(inputs): ...\n")
    (tmp_path / "dosing" / "services" / "__init__.py").write_text("def reexported(x): ...\n")
    assert _service_functions_without_actor(tmp_path) == {
        "tasks.services.care_team", "dosing.services.orders.compute",
}


# --- pages and API read through selectors (issue 14.3) ---------------------------------------


def _manager_reads_in_views(src: Path) -> list[str]:
    found = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).parts
        # `views.py`/`api.py`, or a module of a `views/`/`api/` package (one per step).
        if not {"views", "api"} & {path.stem, *parts[1:-1]} or "migrations" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # `Model.objects.<method>(...)`; an empty queryset (`.none()`) reads nothing.
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "objects" and node.attr != "none"):
                found.append(f"{path.relative_to(src)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_views_and_api_read_through_selectors():
    # A read in a view escapes the selector's permission check and audit row.
    assert _manager_reads_in_views(SRC) == []


def test_the_read_check_sees_a_manager_in_a_view(tmp_path):
    (tmp_path / "pathway").mkdir()
    (tmp_path / "pathway" / "views.py").write_text(
        "Intake.objects.filter(episode=e).first()\nSite.objects.none()\nselectors.intake_of(e)\n"
    )
    (tmp_path / "dosing" / "api").mkdir(parents=True)
    (tmp_path / "dosing" / "api" / "orders.py").write_text("x = 1\nDoseOrder.objects.get(id=1)\n")
    (tmp_path / "dosing" / "selectors.py").write_text("DoseOrder.objects.get(id=1)\n")
    assert _manager_reads_in_views(tmp_path) == [
        "dosing/api/orders.py:2 DoseOrder.objects.get", "pathway/views.py:1 Intake.objects.filter",
    ]
