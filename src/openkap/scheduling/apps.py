from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "openkap.scheduling"
    label = "scheduling"

    def ready(self) -> None:
        # The appointment of a dosing session completes with the session's closing step.
        from openkap.dosing.events import session_closed
        from openkap.scheduling.services.status import on_session_closed

        session_closed.connect(on_session_closed, dispatch_uid="scheduling.appointment_complete_for_session")
