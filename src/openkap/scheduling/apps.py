from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "openkap.scheduling"
    label = "scheduling"
