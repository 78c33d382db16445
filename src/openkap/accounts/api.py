from __future__ import annotations

from ninja import Router, Schema

from openkap.accounts.requests import ApiRequest
from openkap.api.schemas import ErrorOut

router = Router(tags=["accounts"])


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    organization_id: int
    organization_name: str
    roles: list[str]
    permissions: list[str]


@router.get("/me", response={200: MeOut, 400: ErrorOut, 401: ErrorOut}, summary="Who the token belongs to, and what it may do")
def me(request: ApiRequest) -> MeOut:
    actor = request.auth
    return MeOut(
        id=actor.user.id,
        email=actor.user.email,
        full_name=actor.user.full_name,
        organization_id=actor.organization.id,
        organization_name=actor.organization.name,
        roles=sorted(r.value for r in actor.roles),
        permissions=sorted(p.value for p in actor.permissions),
    )
