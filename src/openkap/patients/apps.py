from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "openkap.patients"
    label = "patients"
