"""Domain events of a medicine session, for the apps built on dosing (scheduling) to
react to without dosing importing them.

``session_closed`` is sent inside the transaction of the step that closes a session the
patient came to (the signed discharge, or an end before any dose). Receivers run in that
transaction, so what they write commits or rolls back with the step; an exception in a
receiver rolls the step back (``send``, never ``send_robust``).
Arguments: ``by`` (the actor), ``session``, ``step`` ("discharge" or
"ended_without_dose"), ``break_glass``.
"""

from django.dispatch import Signal

session_closed = Signal()
