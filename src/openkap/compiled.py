"""Reads the ORM builds and compiles once per process, then runs with new ids (ADR 0096).

A chart page runs the same handful of reads for every patient; building each queryset
(filters, annotations, select_related) and compiling it to SQL cost more of the page's
CPU than running it. A ``CompiledRead`` asks the ORM once, with a stand-in value for each
named id, keeps the SQL, where each stand-in sits among the parameters, and how the
ORM's own iterator turns rows into model instances (columns, related objects,
annotations, the backend's converters); each call then binds the ids and runs that SQL
through Django's cursor (the caller's transaction; ``execute_wrapper`` and
``CaptureQueriesContext`` see it). The SQL is the ORM's, so a new column needs nothing
here, and ``tests/test_compiled.py`` compares every read with its queryset.

Only integer ids vary: a read that depends on the time of day or on a list of values
stays a queryset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)

# Every compiled read, so that a test compares each with its queryset.
COMPILED_READS: list[CompiledRead[Any]] = []

# Stand-ins for the ids while the ORM compiles: negative, so no row's id, far from any
# constant a query carries (a LIMIT, a count's default), and within a 32-bit integer
# (the ORM drops a lookup on a value its column cannot hold).
_STAND_IN = -734_000_000
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (position among the parameters, id's name)
    model: type[Model]
    init_list: tuple[str, ...]
    model_start: int
    model_end: int
    populators: tuple[Any, ...]
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]


class CompiledRead(Generic[M]):
    """``build(**ids)`` returns the queryset; ``read(**ids)`` its model instances."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]], *ids: str):
        self.model = model
        self.build = build
        self.ids = ids
        self._plans: dict[tuple[str, str], _Plan] = {}
        COMPILED_READS.append(self)

    def _plan(self, alias: str) -> _Plan:
        connection = connections[alias]
        key = (alias, connection.vendor)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(alias)
        return plan

    def _compile(self, alias: str) -> _Plan:
        stand_ins = {name: _STAND_IN - i for i, name in enumerate(self.ids)}
        compiler = self.build(**stand_ins).using(alias).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = tuple((i, name) for i, p in enumerate(params) for name, v in stand_ins.items()
                      if type(p) is int and p == v)
        missing = set(self.ids) - {name for _i, name in slots}
        if missing:
            raise ValueError(f"{self.model.__name__} read: {sorted(missing)} not found among its parameters")
        klass_info = compiler.klass_info
        if klass_info is None or klass_info["model"] is not self.model:
            raise ValueError(f"a compiled read gives {self.model.__name__} instances, not values or another model")
        select = compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
        return _Plan(
            sql=sql, params=tuple(params), slots=slots, model=self.model,
            init_list=tuple(f[0].target.attname for f in select[start:end]), model_start=start, model_end=end,
            # django-stubs has Django 6's signature (fetch_mode); 5.2 takes these three.
            populators=tuple(get_related_populators(klass_info, select, alias)),  # type: ignore[call-arg]
            annotations=tuple(compiler.annotation_col_map.items()),
            converters=tuple((pos, tuple(convs), expr) for pos, (convs, expr) in converters.items()),
        )

    def read(self, **ids: Any) -> list[M]:
        if not all(type(v) is int and _INT64[0] <= v <= _INT64[1] for v in ids.values()):
            # Anything else (text from a caller, an id no column holds) as the ORM takes it.
            return list(self.build(**ids))
        alias = router.db_for_read(self.model)
        plan = self._plan(alias)
        params = list(plan.params)
        for i, name in plan.slots:
            params[i] = ids[name]
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        found = []
        for fetched in rows:
            row = list(fetched)
            for pos, convs, expression in plan.converters:
                value = row[pos]
                for convert in convs:
                    value = convert(value, expression, connection)
                row[pos] = value
            obj = plan.model.from_db(alias, plan.init_list, row[plan.model_start:plan.model_end])
            for populator in plan.populators:
                populator.populate(row, obj)
            for name, pos in plan.annotations:
                setattr(obj, name, row[pos])
            found.append(obj)
        return found  # type: ignore[return-value]  # instances of plan.model, which is M

    def first(self, **ids: Any) -> M | None:
        rows = self.read(**ids)
        return rows[0] if rows else None
