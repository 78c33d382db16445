from django.urls import path

from openkap.referrals import views

app_name = "referrals"

urlpatterns = [
    # Public: the pre-screen and the clinician form, for the deployment's clinic or a named one.
    path("refer/", views.self_start, name="self_start"),
    path("refer/step/", views.self_step, name="self_step"),
    path("refer/thanks/", views.thanks, name="thanks"),
    path("refer/clinician/", views.clinician, name="clinician"),
    path("refer/status/", views.status, name="status"),
    path("refer/status/<str:token>/", views.status_open, name="status_open"),
    path("clinics/<slug:org_slug>/refer/", views.self_start, name="self_start_org"),
    path("clinics/<slug:org_slug>/refer/clinician/", views.clinician, name="clinician_org"),
    # Staff: the intake worklist.
    path("referrals/", views.worklist, name="worklist"),
    path("referrals/<id:referral_id>/", views.detail, name="detail"),
    path("referrals/<id:referral_id>/accept/", views.accept, name="accept"),
    path("referrals/<id:referral_id>/close/", views.close, name="close"),
    path("referrals/<id:referral_id>/letter.pdf", views.letter, name="letter"),
]
