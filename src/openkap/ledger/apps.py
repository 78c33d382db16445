from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "openkap.ledger"
    label = "ledger"
