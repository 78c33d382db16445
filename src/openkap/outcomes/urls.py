from django.urls import path

from openkap.outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("outcomes/", views.report, name="report"),
    path("outcomes/report.pdf", views.report_pdf, name="report_pdf"),
    path("outcomes/report.csv", views.report_csv, name="report_csv"),
    path("research/", views.research, name="research"),
    path("patients/<id:patient_id>/outcomes/", views.patient_outcomes, name="patient"),
    path("patients/<id:patient_id>/outcomes/report.pdf", views.patient_outcomes_pdf, name="patient_pdf"),
]
