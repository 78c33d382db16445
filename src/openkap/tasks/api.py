"""The task inbox in the JSON API: list the tasks the caller may see, resolve one with a note."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Router, Schema
from pydantic import Field

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut, ObjectId, PageNumber
from openkap.tasks import selectors, services
from openkap.tasks.models import Task

router = Router(tags=["tasks"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class TaskOut(Schema):
    id: int
    kind: str
    priority: str
    title: str
    detail: str
    data: dict[str, Any]
    patient_id: int | None
    assigned_role: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolved_by_id: int | None
    resolution_note: str


class TaskPageOut(Schema):
    items: list[TaskOut]
    count: int
    page: int
    pages: int


class ResolveIn(Schema):
    note: str = Field(min_length=1, max_length=4000, description="What was done (at least 10 characters)")


@router.get("/tasks", response={200: TaskPageOut, **ERRORS}, summary="Open (or resolved) tasks")
def list_tasks(
    request: ApiRequest,
    scope: Literal["mine", "all"] = "mine",
    state: Literal["open", "resolved"] = "open",
    page: PageNumber = 1,
) -> TaskPageOut:
    result = selectors.tasks_list(by=request.auth, scope=scope, state=state, page=page)
    return TaskPageOut(
        items=[TaskOut.from_orm(t) for t in result], count=result.paginator.count,
        page=result.number, pages=result.paginator.num_pages,
    )


@router.post("/tasks/{task_id}/resolve", response={200: TaskOut, **ERRORS}, summary="Resolve a task with a note")
def resolve_task(request: ApiRequest, task_id: ObjectId, payload: ResolveIn) -> Task:
    return services.task_resolve(by=request.auth, task_id=task_id, note=payload.note)
