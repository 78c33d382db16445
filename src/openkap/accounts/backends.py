from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from openkap.accounts.authz import user_with_memberships
from openkap.accounts.models import User


class EmailBackend(ModelBackend):
    """Loads users by id for the session; passwords are checked by
    ``services.login_attempt`` so that throttling and auditing cannot be skipped."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None

    def get_user(self, user_id: int) -> User | None:
        # With the active memberships the request's actor is built from (one read, ADR 0112).
        user = user_with_memberships(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
