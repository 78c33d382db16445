from django.urls import path

from openkap.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_log, name="log"),
    path("export.csv", views.audit_export, name="export"),
    path("security/", views.security, name="security"),
    path("security.csv", views.security_export, name="security_export"),
]
