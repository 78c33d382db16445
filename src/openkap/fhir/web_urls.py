from django.urls import path

from openkap.fhir import web_views

app_name = "fhir_admin"

urlpatterns = [
    path("admin/fhir-clients/", web_views.clients, name="clients"),
    path("admin/fhir-clients/<slug:client_id>/revoke/", web_views.client_revoke, name="client_revoke"),
]
