from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "openkap.measures"
    label = "measures"

    def ready(self) -> None:
        # The measure schedule follows the pathway's events; pathway never imports measures.
        from openkap.measures.receivers import connect
        from openkap.measures.selectors import has_open_safety_task
        from openkap.patients.selectors import register_chart_fact

        connect()
        register_chart_fact("chart_open_safety_task", has_open_safety_task())
