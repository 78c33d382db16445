from django.apps import AppConfig
from django.urls import register_converter


class WebConfig(AppConfig):
    name = "openkap.web"
    label = "web"

    def ready(self) -> None:
        from openkap.web.converters import IdConverter

        register_converter(IdConverter, "id")
