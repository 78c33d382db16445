from django.urls import path

from openkap.patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<id:patient_id>/", views.patient_chart, name="chart"),
    path("<id:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<id:patient_id>/weights/", views.weight_add, name="weight_add"),
    path("<id:patient_id>/heights/", views.height_add, name="height_add"),
    path("<id:patient_id>/care-team/", views.care_team_add, name="care_team_add"),
    path("<id:patient_id>/care-team/<id:member_id>/remove/", views.care_team_remove, name="care_team_remove"),
    path("<id:patient_id>/break-glass/", views.break_glass, name="break_glass"),
    path("<id:patient_id>/portal-access/invite/", views.portal_invite, name="portal_invite"),
    path("<id:patient_id>/portal-access/revoke/", views.portal_revoke, name="portal_revoke"),
    path("portal-invitation/<str:token>/", views.portal_accept, name="portal_accept"),
]
