from django.apps import AppConfig


class PharmacokineticsConfig(AppConfig):
    name = "openkap.pharmacokinetics"
    label = "pharmacokinetics"
    verbose_name = "Pharmacokinetic predictions"
