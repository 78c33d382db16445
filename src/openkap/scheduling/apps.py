from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "openkap.scheduling"
    label = "scheduling"

    def ready(self) -> None:
        # The appointment of a dosing session completes with the session's closing step.
        from openkap.dosing.events import session_closed
        from openkap.patients.selectors import register_chart_fact
        from openkap.scheduling.selectors import late_cancellations_of_patient, no_shows_of_patient
        from openkap.scheduling.services.status import on_session_closed

        session_closed.connect(on_session_closed, dispatch_uid="scheduling.appointment_complete_for_session")
        # The tab strip's badges, read with the chart's patient.
        register_chart_fact("chart_no_shows", no_shows_of_patient())
        register_chart_fact("chart_late_cancellations", late_cancellations_of_patient())
