from django.urls import path

from openkap.site import views

app_name = "site"

urlpatterns = [
    # "/" itself is web:home, which shows the public home to anonymous visitors.
    path("learn/routes/", views.page, {"key": "routes"}, name="routes"),
    path("learn/safety/", views.page, {"key": "safety"}, name="safety"),
    path("learn/eligibility/", views.page, {"key": "eligibility"}, name="eligibility"),
    path("learn/sessions/", views.page, {"key": "sessions"}, name="sessions"),
    path("learn/costs/", views.page, {"key": "costs"}, name="costs"),
    path("contact/", views.page, {"key": "contact"}, name="contact"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
    path("robots.txt", views.robots, name="robots"),
    path("language/", views.language, name="language"),
    path("admin/public-site/", views.admin_list, name="admin_list"),
    path("admin/public-site/<str:key>/<str:language>/", views.admin_edit, name="admin_edit"),
]
