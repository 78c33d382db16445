from django.urls import path

from openkap.outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("outcomes/", views.report, name="report"),
    path("outcomes/report.pdf", views.report_pdf, name="report_pdf"),
    path("outcomes/report.csv", views.report_csv, name="report_csv"),
]
