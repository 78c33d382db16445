from django.urls import path

from openkap.tasks import views

app_name = "tasks"

urlpatterns = [
    path("tasks/", views.task_list, name="list"),
    path("tasks/<id:task_id>/", views.task_detail, name="detail"),
]
