from django.urls import path

from openkap.dosing import views

app_name = "dosing"

S = "dosing/sessions/<id:session_id>/"
P = "dosing/protocols/"

urlpatterns = [
    path(P, views.protocol_list, name="protocols"),
    path(f"{P}new/", views.protocol_new, name="protocol_new"),
    path(f"{P}new/json/", views.protocol_new_json, name="protocol_new_json"),
    path(f"{P}import/", views.protocol_import, name="protocol_import"),
    path(f"{P}<id:version_id>/", views.protocol_detail, name="protocol"),
    path(f"{P}<id:version_id>/edit/", views.protocol_edit, name="protocol_edit"),
    path(f"{P}<id:version_id>/edit/json/", views.protocol_edit_json, name="protocol_edit_json"),
    path(f"{P}<id:version_id>/approve/", views.protocol_approve, name="protocol_approve"),
    path("dosing/", views.board_home, name="home"),
    path("dosing/board/<id:site_id>/", views.board, name="board"),
    path(S, views.session_detail, name="session"),
    path(f"{S}check-in/", views.check_in, name="check_in"),
    path(f"{S}checklist/", views.checklist, name="checklist"),
    path(f"{S}order/", views.order, name="order"),
    path(f"{S}order/cancel/", views.order_cancel, name="order_cancel"),
    path(f"{S}weight/", views.weight, name="weight"),
    path(f"{S}preparation/", views.prepare, name="prepare"),
    path(f"{S}preparation/void/", views.preparation_void, name="preparation_void"),
    path(f"{S}verification/", views.verify, name="verify"),
    path(f"{S}administration/", views.administer, name="administer"),
    path(f"{S}vitals/", views.vitals, name="vitals"),
    path(f"{S}observations/", views.observation, name="observation"),
    path(f"{S}adverse-events/", views.adverse_event, name="adverse_event"),
    path(f"{S}discharge/", views.discharge, name="discharge"),
    path(f"{S}end/", views.end_without_dose, name="end"),
    path(f"{S}predicted-curve/", views.pk_overlay, name="pk_overlay"),
    path(f"{S}record.pdf", views.record_pdf, name="record_pdf"),
    path(f"{S}record/", views.record, name="record"),
    path(f"{S}record/prepare/", views.record_prepare, name="record_prepare"),
    path(f"{S}rems/", views.rems, name="rems"),
    path(f"{S}rems/save/", views.rems_save, name="rems_save"),
    path(f"{S}rems/submit/", views.rems_submit, name="rems_submit"),
    path(f"{S}rems.pdf", views.rems_pdf, name="rems_pdf"),
    path("dosing/alarms/<id:alarm_id>/acknowledge/", views.alarm_acknowledge, name="alarm_acknowledge"),
    path("patients/<id:patient_id>/medicine-sessions/", views.patient_sessions, name="patient_sessions"),
]
