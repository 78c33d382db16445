from django.urls import include, path

from openkap.api.api import api
from openkap.fhir import views as fhir_views

urlpatterns = [
    path("", include("openkap.web.urls")),
    path("", include("openkap.accounts.urls")),
    path("patients/", include("openkap.patients.urls")),
    path("admin/audit/", include("openkap.audit.urls")),
    path("", include("openkap.pathway.urls")),
    path("", include("openkap.measures.urls")),
    path("", include("openkap.tasks.urls")),
    path("", include("openkap.scheduling.urls")),
    path("", include("openkap.ledger.urls")),
    path("", include("openkap.dosing.urls")),
    path("", include("openkap.pharmacokinetics.urls")),
    path("", include("openkap.outcomes.urls")),
    path("", include("openkap.history.urls")),
    path("", include("openkap.site.urls")),
    path("", include("openkap.referrals.urls")),
    path("api/v1/", api.urls),
    path("fhir/R4/", include("openkap.fhir.urls")),
    path("", include("openkap.fhir.web_urls")),
    # SMART discovery at the server root too, where the issue and some clients look for it.
    path(".well-known/smart-configuration", fhir_views.smart_configuration, name="smart_configuration"),
]

handler400 = "openkap.web.views.error_400"
handler403 = "openkap.web.views.error_403"
handler404 = "openkap.web.views.error_404"
handler500 = "openkap.web.views.error_500"
