from django.urls import path

from openkap.scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("schedule/", views.calendar, name="calendar"),
    path("schedule/book/", views.book, name="book"),
    path("schedule/book/patients/", views.patient_picker, name="patient_picker"),
    path("schedule/types/", views.appointment_types, name="types"),
    path("schedule/my-calendar-feed/", views.my_feed, name="my_feed"),
    path("schedule/appointments/<id:appointment_id>/", views.appointment, name="appointment"),
    path("schedule/appointments/<id:appointment_id>/reschedule/", views.reschedule, name="reschedule"),
    path("schedule/appointments/<id:appointment_id>/cancel/", views.cancel, name="cancel"),
    path("schedule/appointments/<id:appointment_id>/no-show/", views.no_show, name="no_show"),
    path("schedule/appointments/<id:appointment_id>/complete/", views.complete, name="complete"),
    path("patients/<id:patient_id>/appointments/", views.patient_appointments, name="patient_appointments"),
    path("patients/<id:patient_id>/appointments/letter.pdf", views.patient_letter, name="patient_letter"),
    path("patients/<id:patient_id>/appointments/calendar-feed/", views.patient_feed, name="patient_feed"),
    path("portal/appointments/", views.portal_appointments, name="portal_appointments"),
    path("portal/appointments/letter.pdf", views.portal_letter, name="portal_letter"),
    # The secret calendar address: no sign-in, the token is the key (views.ics_feed).
    path("calendar/<str:token>.ics", views.ics_feed, name="ics_feed"),
]
