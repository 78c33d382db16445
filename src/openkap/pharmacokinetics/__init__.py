"""Pharmacokinetic predictions in the product (openkap.core.pk behind pages, tags and the API).

- ``/pk/compare/``: routes compared at equal milligrams (chart, numbers, why they differ).
- ``POST /api/v1/pk/simulate`` and ``POST /api/v1/pk/compare``: the same numbers as JSON.
- Template tags for other apps' pages (``{% load pk_tags %}``); each draws a
  server-side SVG that states the model, its source and that it is a population
  prediction, not a dosing instruction. Bad or missing input shows a short
  notice instead of a chart; a tag never raises.

  Beside a dose order (route: a protocol route such as ``"intramuscular"`` or a
  simulator route such as ``"im"``; numbers may be Decimals)::

      {% pk_curve order.route order.dose_mg order.weight_kg %}
      {% pk_curve "iv_infusion" 35 70 infusion_min=40 hours=4 caption="Ordered dose." %}

  In a treatment plan (the protocol's first-session dose for the latest weight)::

      {% pk_plan_curve plan chart.latest_weight %}

  On a finished session's record, observations in minutes from the start of
  dosing (objects or dicts; missing values may be None)::

      {% pk_overlay route dose_mg weight_kg vitals=readings dissociation=cadss %}
      # readings: items with minute, systolic, diastolic, heart_rate
      # cadss:    items with minute, score

  or straight from the record (the signed order, every set of vitals including
  those before the dose, CADSS ratings, the IV infusion time as run), for a
  session fetched through the dosing app's audited selector::

      {% pk_session_overlay session %}

  Python: ``predictions.predicted_curve(...)``, ``predictions.compare_routes(...)``,
  ``predictions.overlay_svg(...)``, ``sessions.session_overlay(session)``. Curves are cached per process (lru_cache, keyed
  on rounded inputs) for 300 virtual patients; a tag reads no patient data itself.
"""

import os

# The simulator threads over patients itself; OpenBLAS's own threads on top of
# that oversubscribe the cores and make small populations ~10x slower (docs/pk.md).
# Effective when this app is imported before NumPy, as in `openkap serve`.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
