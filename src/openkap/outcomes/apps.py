from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "openkap.outcomes"
    label = "outcomes"
    verbose_name = "Outcomes and evidence"
