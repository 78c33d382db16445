"""Django's database sessions (SESSION_ENGINE), the session's row read by a compiled read
(ADR 0112): every signed-in request loads it first, and building and compiling the
ORM's query cost about twice what running it does. Saving, expiry and the cookie are
Django's own."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from openkap.compiled import CompiledRead

# The same query as Django's: the key, unexpired.
_SESSION = CompiledRead(Session, lambda session_key, now: Session.objects.filter(
    session_key=session_key, expire_date__gt=now), texts=("session_key",), datetimes=("now",))


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Session | None:
        session = _SESSION.first(session_key=self.session_key, now=timezone.now())
        if session is None:
            self._session_key = None  # as Django's: a new key is made if the session is saved
        return session
