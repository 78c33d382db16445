from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "openkap.audit"
    label = "audit"
