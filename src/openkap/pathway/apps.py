from django.apps import AppConfig


class PathwayConfig(AppConfig):
    name = "openkap.pathway"
    label = "pathway"
