from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "openkap.api"
    label = "api"
