from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "openkap.measures"
    label = "measures"

    def ready(self) -> None:
        # The measure schedule follows the pathway's events; pathway never imports measures.
        from openkap.measures.receivers import connect

        connect()
