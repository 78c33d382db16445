from django.urls import path

from openkap.ledger import views

app_name = "ledger"

urlpatterns = [
    path("ledger/", views.home, name="home"),
    path("ledger/suppliers/", views.suppliers, name="suppliers"),
    path("ledger/sites/<id:site_id>/", views.site, name="site"),
    path("ledger/sites/<id:site_id>/receive/", views.receive, name="receive"),
    path("ledger/sites/<id:site_id>/administer/", views.administer, name="administer"),
    path("ledger/sites/<id:site_id>/products/", views.products, name="products"),
    path("ledger/sites/<id:site_id>/reconciliation/", views.reconciliation, name="reconciliation"),
    path("ledger/sites/<id:site_id>/inventories/", views.inventories, name="inventories"),
    path("ledger/sites/<id:site_id>/inventories/new/", views.inventory_new, name="inventory_new"),
    path("ledger/sites/<id:site_id>/verify/", views.verify, name="verify"),
    path("ledger/sites/<id:site_id>/reports/", views.report_index, name="reports"),
    path("ledger/sites/<id:site_id>/reports/administrations/", views.site_report,
         {"report": "administrations"}, name="report_administrations"),
    path("ledger/sites/<id:site_id>/reports/waste/", views.site_report, {"report": "waste"}, name="report_waste"),
    path("ledger/sites/<id:site_id>/reports/form-41/", views.site_report, {"report": "form-41"}, name="report_form41"),
    path("ledger/sites/<id:site_id>/reports/form-106/", views.site_report, {"report": "form-106"},
         name="report_form106"),
    path("ledger/lots/<id:lot_id>/", views.lot, name="lot"),
    path("ledger/lots/<id:lot_id>/waste/", views.waste, name="waste"),
    path("ledger/lots/<id:lot_id>/count/", views.count, name="count"),
    path("ledger/lots/<id:lot_id>/transfer/", views.transfer, name="transfer"),
    path("ledger/lots/<id:lot_id>/destroy/", views.destroy, name="destroy"),
    path("ledger/lots/<id:lot_id>/loss/", views.loss, name="loss"),
    path("ledger/entries/<id:entry_id>/correct/", views.correct, name="correct"),
    path("ledger/entries/<id:entry_id>/adjust/", views.adjust, name="adjust"),
    path("ledger/inventories/<id:inventory_id>/", views.inventory, name="inventory"),
]
