from django.urls import include, path

from openkap.api.api import api

urlpatterns = [
    path("", include("openkap.web.urls")),
    path("", include("openkap.accounts.urls")),
    path("patients/", include("openkap.patients.urls")),
    path("admin/audit/", include("openkap.audit.urls")),
    path("", include("openkap.pathway.urls")),
    path("", include("openkap.measures.urls")),
    path("", include("openkap.scheduling.urls")),
    path("", include("openkap.ledger.urls")),
    path("", include("openkap.dosing.urls")),
    path("", include("openkap.pharmacokinetics.urls")),
    path("", include("openkap.outcomes.urls")),
    path("api/v1/", api.urls),
    path("fhir/R4/", include("openkap.fhir.urls")),
]

handler403 = "openkap.web.views.error_403"
handler404 = "openkap.web.views.error_404"
handler500 = "openkap.web.views.error_500"
