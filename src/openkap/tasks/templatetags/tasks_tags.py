"""The Today page's box of the actor's most pressing open tasks."""

from __future__ import annotations

from typing import Any

from django import template

from openkap.core.authz import Perm
from openkap.tasks import selectors

register = template.Library()


@register.inclusion_tag("tasks/_today_tasks.html", takes_context=True)
def today_tasks(context: template.Context) -> dict[str, Any]:
    actor = context.get("actor")
    if not actor or not actor.can(Perm.TASK_VIEW):
        return {"show": False}
    return {"show": True, "counts": selectors.open_task_counts(actor), "top": selectors.top_open_tasks(actor)}
