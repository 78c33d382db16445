from django.urls import path, re_path

from openkap.fhir import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart_configuration"),
    path("auth/token", views.token, name="token"),
    path("$export", views.export_system, name="export"),
    path("Patient/$export", views.export_patients, name="export_patients"),
    re_path(r"^Group/(?P<group_id>[A-Za-z0-9\-.]{1,64})/\$export$", views.export_group, name="export_group"),
    re_path(r"^\$export-poll/(?P<job_id>[0-9a-f\-]{36})$", views.export_status, name="export_status"),
    re_path(r"^\$export-file/(?P<job_id>[0-9a-f\-]{36})/(?P<name>[A-Za-z]{1,64}\.ndjson)$", views.export_file,
            name="export_file"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})$", views.type_endpoint, name="type"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$",
            views.instance_endpoint, name="instance"),
]
# Anything else under /fhir/R4 is an unknown type or interaction: an OperationOutcome, not a page.
urlpatterns.append(re_path(r"^.*$", views.unknown, name="unknown"))
