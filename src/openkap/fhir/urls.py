from django.urls import path, re_path

from openkap.fhir import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})$", views.type_endpoint, name="type"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]{1,63})/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$",
            views.instance_endpoint, name="instance"),
]
# Anything else under /fhir/R4 is an unknown type or interaction: an OperationOutcome, not a page.
urlpatterns.append(re_path(r"^.*$", views.unknown, name="unknown"))
