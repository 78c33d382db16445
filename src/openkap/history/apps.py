from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "openkap.history"
    label = "history"
    verbose_name = "History import"
