from django.urls import path, register_converter

from openkap.site import views
from openkap.site.content import LANGUAGES


class LanguageConverter:
    """A language of the public site in a URL's first segment (/es/learn/routes/)."""

    regex = "|".join(LANGUAGES)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(LanguageConverter, "lang")
L = "<lang:language>/"

app_name = "site"

urlpatterns = [
    # "/" itself is web:home, which shows the public home to anonymous visitors.
    path("learn/routes/", views.page, {"key": "routes"}, name="routes"),
    path("learn/safety/", views.page, {"key": "safety"}, name="safety"),
    path("learn/eligibility/", views.page, {"key": "eligibility"}, name="eligibility"),
    path("learn/sessions/", views.page, {"key": "sessions"}, name="sessions"),
    path("learn/costs/", views.page, {"key": "costs"}, name="costs"),
    path("contact/", views.page, {"key": "contact"}, name="contact"),
    # The same pages at one language each (hreflang alternates; the paths above follow
    # the visitor's cookie or browser and are the x-default).
    path(L, views.home, name="home_in"),
    path(f"{L}learn/routes/", views.page, {"key": "routes"}, name="routes_in"),
    path(f"{L}learn/safety/", views.page, {"key": "safety"}, name="safety_in"),
    path(f"{L}learn/eligibility/", views.page, {"key": "eligibility"}, name="eligibility_in"),
    path(f"{L}learn/sessions/", views.page, {"key": "sessions"}, name="sessions_in"),
    path(f"{L}learn/costs/", views.page, {"key": "costs"}, name="costs_in"),
    path(f"{L}contact/", views.page, {"key": "contact"}, name="contact_in"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
    path("robots.txt", views.robots, name="robots"),
    path("language/", views.language, name="language"),
    path("admin/public-site/", views.admin_list, name="admin_list"),
    path("admin/public-site/<str:key>/<str:language>/", views.admin_edit, name="admin_edit"),
]
