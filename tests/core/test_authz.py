import pytest

from openkap.core.authz import (
    CLINICAL_ROLES,
    PATIENT_SCOPED,
    ROLE_PERMISSIONS,
    Perm,
    Role,
    allows,
    permissions_for,
)


def test_every_role_has_an_entry_in_the_matrix():
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_patient_role_has_no_staff_permission():
    assert permissions_for([Role.PATIENT]) == frozenset()


def test_researcher_cannot_see_identified_patients():
    assert not allows([Role.RESEARCHER], Perm.PATIENT_VIEW)
    assert not allows([Role.RESEARCHER], Perm.CLINICAL_VIEW)


def test_admin_sees_registry_but_not_clinical_content():
    assert allows([Role.ADMIN], Perm.PATIENT_VIEW, on_care_team=False)
    assert not allows([Role.ADMIN], Perm.CLINICAL_VIEW, on_care_team=False)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PRESCRIBER])
@pytest.mark.parametrize("perm", sorted(PATIENT_SCOPED))
def test_clinicians_need_the_care_team_for_patient_scoped_actions(role, perm):
    if perm not in ROLE_PERMISSIONS[role]:
        pytest.skip("role never holds this permission")
    assert allows([role], perm, on_care_team=True)
    assert not allows([role], perm, on_care_team=False)
    assert allows([role], perm, on_care_team=False, break_glass_active=True)


def test_nurse_is_clinic_wide():
    assert allows([Role.NURSE], Perm.CLINICAL_VIEW, on_care_team=False)


def test_combined_roles_take_the_union():
    roles = [Role.THERAPIST, Role.ADMIN]
    assert allows(roles, Perm.AUDIT_VIEW)
    # Registry view is clinic-wide through the admin role...
    assert allows(roles, Perm.PATIENT_VIEW, on_care_team=False)
    # ...but clinical content still needs the care team, since only the therapist role grants it.
    assert not allows(roles, Perm.CLINICAL_VIEW, on_care_team=False)


def test_only_admins_manage_staff_and_read_the_audit_log():
    for role in Role:
        assert allows([role], Perm.STAFF_MANAGE) == (role is Role.ADMIN)
        assert allows([role], Perm.AUDIT_VIEW) == (role is Role.ADMIN)


def test_break_glass_is_for_clinicians_only():
    assert {r for r in Role if allows([r], Perm.BREAK_GLASS)} == set(CLINICAL_ROLES)


@pytest.mark.parametrize("perm", list(Perm))
def test_an_organization_wide_holder_is_allowed_whatever_the_care_team(perm):
    """patient_for skips reading the care team when held_organization_wide: allowed, and
    never by break-glass, for every combination of roles, team and glass."""
    from itertools import combinations

    from openkap.core.authz import ORGANIZATION_WIDE_ROLES, held_organization_wide

    for n in range(1, 4):
        for roles in combinations(list(Role), n):
            if not held_organization_wide(roles, perm):
                continue
            assert set(roles) & ORGANIZATION_WIDE_ROLES
            for on_team in (True, False):
                for glass in (True, False):
                    assert allows(roles, perm, on_care_team=on_team, break_glass_active=glass)


def test_a_chart_tab_may_show_the_header_to_whoever_holds_patient_view():
    """patients.selectors.chart_header checks only the role's PATIENT_VIEW once the tab's own
    patient-scoped permission passed for this patient: for every combination of roles and
    facts, passing one patient-scoped permission and holding PATIENT_VIEW at all means
    PATIENT_VIEW passes for the same patient."""
    from itertools import combinations

    checked = 0
    for size in range(1, len(Role) + 1):
        for roles in combinations(list(Role), size):
            holds_view = Perm.PATIENT_VIEW in permissions_for(roles)
            for perm in PATIENT_SCOPED:
                for team in (False, True):
                    for glass in (False, True):
                        if holds_view and allows(roles, perm, on_care_team=team, break_glass_active=glass):
                            assert allows(roles, Perm.PATIENT_VIEW, on_care_team=team, break_glass_active=glass)
                            checked += 1
    assert checked > 0
