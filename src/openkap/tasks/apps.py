from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "openkap.tasks"
    label = "tasks"
