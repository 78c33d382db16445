from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Loads users by id for the session; passwords are checked by
    ``services.login_attempt`` so that throttling and auditing cannot be skipped."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None
