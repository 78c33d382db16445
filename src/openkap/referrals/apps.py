from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "openkap.referrals"
    label = "referrals"
    verbose_name = "Referrals and intake triage"
