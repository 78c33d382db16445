from django.urls import path

from openkap.measures import views

app_name = "measures"

PATIENT = "patients/<id:patient_id>/measures/"

urlpatterns = [
    # The chart's Measures tab and staff entry.
    path(PATIENT, views.patient_measures, name="patient"),
    path(PATIENT + "enter/<slug:instrument_id>/", views.response_entry, name="enter"),
    path(PATIENT + "responses/<id:response_id>/", views.response_detail, name="response"),
    path(PATIENT + "assign/", views.assign, name="assign"),
    path(PATIENT + "schedule/", views.plan_edit, name="plan"),
    path(PATIENT + "assignments/<id:assignment_id>/link/", views.link_create, name="link_create"),
    path(PATIENT + "assignments/<id:assignment_id>/cancel/", views.assignment_cancel, name="assignment_cancel"),
    # Licensed questionnaire wording (admins).
    path("measures/wording/", views.wording_list, name="wording_list"),
    path("measures/wording/<slug:instrument_id>/", views.wording_edit, name="wording_edit"),
    # The patient portal.
    path("portal/questionnaires/", views.portal_list, name="portal"),
    path("portal/questionnaires/<id:assignment_id>/", views.portal_fill, name="portal_fill"),
    path("portal/questionnaires/done/<id:response_id>/", views.portal_done, name="portal_done"),
    # A single-use questionnaire link: no login.
    path("q/<str:token>/", views.link_fill, name="link"),
]
