"""Domain events of the care pathway, for the apps built on it (measures) to react to
without pathway importing them (docs/architecture.md).

Each is sent inside the transaction of the step it names, as ``dosing.events`` are:
receivers run in that transaction, so what they write commits or rolls back with the
step, and an exception in a receiver (a ``ValidationError`` included) rolls the step
back (``send``, never ``send_robust``). Every one carries ``by`` (the actor) and
``episode``.
"""

from django.dispatch import Signal

# An episode of care was opened at intake.
episode_opened = Signal()
# A treatment plan was signed; also ``plan``: its measure schedule, occasion -> instrument ids.
plan_signed = Signal()
# The episode moved into reassessment.
reassessment_started = Signal()
# An integration note of a held dosing session was written; also ``dosing_session_id``
# and ``held_at``.
integration_recorded = Signal()
