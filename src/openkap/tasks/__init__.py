"""The task inbox: urgent and routine work for the care team, assigned to people or a
role and resolved with a note. Other apps raise their own kinds of task through
``openkap.tasks.services.task_create``."""
