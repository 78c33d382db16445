from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "openkap.fhir"
    label = "fhir"
