from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "openkap.dosing"
    label = "dosing"

    def ready(self) -> None:
        # The care pathway reads held sessions and approved protocols through these, so
        # pathway never imports dosing (ADR 0064).
        from openkap.dosing import selectors
        from openkap.pathway.selectors import dosing_reads_from

        dosing_reads_from(held_sessions=selectors.held_sessions, approved_protocol=selectors.approved_protocol)
