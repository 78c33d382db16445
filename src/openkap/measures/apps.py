from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "openkap.measures"
    label = "measures"
