from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "openkap.fhir"
    label = "fhir"

    def ready(self) -> None:
        # The registry is filled by importing the resource types (and the exporters).
        from openkap.fhir import export, resources  # noqa: F401
