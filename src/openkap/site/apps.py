from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "openkap.site"
    label = "public_site"  # "site"/"sites" belong to django.contrib.sites
    verbose_name = "Public site"
