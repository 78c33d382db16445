from django.urls import path

from openkap.pharmacokinetics import views

app_name = "pharmacokinetics"

urlpatterns = [
    path("pk/compare/", views.compare, name="compare"),
    path("pk/validation/", views.validation_tables, name="validation"),
]
