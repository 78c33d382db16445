"""The resource types served at /fhir/R4, each registered with what it supports, one
module per resource family; importing the package registers them all.

Reads and searches go through the apps' own access rules (``patient_for``,
``visible_patients``, ``require``): another organisation's resource is 404, a role
without the permission 403. The views audit each read and search (via=fhir).
"""

from . import clinic, condition, encounter, observation, patient, questionnaire, tables  # noqa: F401 - these register the types
