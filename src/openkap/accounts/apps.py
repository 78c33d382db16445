from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "openkap.accounts"
    label = "accounts"
