from django.contrib.auth import views as auth_views
from django.urls import path

from openkap.accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/mfa/setup/", views.mfa_setup, name="mfa_setup"),
    path("accounts/mfa/verify/", views.mfa_verify, name="mfa_verify"),
    path("accounts/session/", views.session_status, name="session_status"),
    path("accounts/organization/", views.switch_organization, name="switch_organization"),
    path("accounts/invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("accounts/password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("accounts/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    # Staff administration (Django's own admin site is not installed).
    path("admin/staff/", views.staff_list, name="staff_list"),
    path("admin/staff/invite/", views.staff_invite, name="staff_invite"),
    path("admin/staff/<id:user_id>/unlock/", views.staff_unlock, name="staff_unlock"),
    path("admin/sites/", views.sites, name="sites"),
    path("admin/api-tokens/", views.api_tokens, name="api_tokens"),
    path("admin/api-tokens/<id:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
