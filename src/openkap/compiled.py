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

What varies: integer ids; aware datetimes (``datetimes=``: bound as the backend adapts a
DateTimeField's value, e.g. a day's bounds); lists of integer ids (``lists=``: an
``IN`` list, compiled once per length, duplicates dropped as the ORM drops them); and text
compared as it is (``texts=``: an exact match on a text column, e.g. a session's key; a
lookup that rewrites its value, like ``icontains``, is refused when compiled); text matched
by a ``LIKE`` pattern (``likes=``: ``startswith``, ``contains``; bound as Django binds it,
``\\``, ``%`` and ``_`` escaped by the backend's ``prep_for_like_query``, which compiling
checks on a stand-in holding all three); and small integers that change the SQL itself
(``shapes=``: a LIMIT or OFFSET; one plan per combination, at most MAX_PLANS). Any other
value (a naive datetime, an empty or very long list) runs through the queryset itself, so
odd input behaves as before. ``CompiledRows`` does the same for a ``values_list`` queryset
and gives its tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators

M = TypeVar("M", bound=Model)

# Every compiled read, so that a test compares each with its queryset.
COMPILED_READS: list[_Compiled] = []

# Stand-ins for the ids while the ORM compiles: negative, so no row's id, far from any
# constant a query carries (a LIMIT, a count's default), and within a 32-bit integer
# (the ORM drops a lookup on a value its column cannot hold).
_STAND_IN = -734_000_000
_INT64 = (-(2**63), 2**63 - 1)
# A list's stand-ins: the k-th list's j-th id is _STAND_IN - _LIST_STEP * (k + 1) - j.
_LIST_STEP = 10_000
# Longer lists go through the queryset: one plan per length stays a bounded number of plans.
MAX_LIST = 200
# Datetime stand-ins: an instant no row of this application holds, one microsecond apart.
_STAND_IN_AT = datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
# Text stand-ins: no key, name or code of this application looks like this.
_STAND_IN_TEXT = "\u2063compiled-read-stand-in-{}\u2063"
# LIKE stand-ins hold the three characters a pattern escapes, so compiling sees the escaping.
_STAND_IN_LIKE = "\u2063compiled-read-like-{}\\%_\u2063"
# Shapes (a LIMIT, an OFFSET) up to this; a read keeps at most MAX_PLANS plans.
_MAX_SHAPE = 1_000_000
MAX_PLANS = 64


def _is_id(value: Any) -> bool:
    return type(value) is int and _INT64[0] <= value <= _INT64[1]


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    # (position among the parameters, the value's name, its kind: "id", "at", "text" or a list's index)
    slots: tuple[tuple[int, str, str | int], ...]
    # (position, the value's name, what the ORM wrote before and after the escaped text)
    like_slots: tuple[tuple[int, str, str, str], ...]
    model: type[Model]
    col_count: int
    init_list: tuple[str, ...]
    model_start: int
    model_end: int
    populators: tuple[Any, ...]
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]


class _Compiled:
    """What CompiledRead and CompiledRows share: the plans, binding, running the SQL."""

    rows = False  # CompiledRows: a values_list queryset's tuples, not instances

    def __init__(self, model: type[Model], build: Callable[..., QuerySet[Any, Any]], *ids: str,
                 datetimes: tuple[str, ...] = (), lists: tuple[str, ...] = (), texts: tuple[str, ...] = (),
                 likes: tuple[str, ...] = (), shapes: tuple[str, ...] = ()):
        self.model = model
        self.build = build
        self.ids = ids
        self.datetimes = datetimes
        self.lists = lists
        self.texts = texts
        self.likes = likes
        self.shapes = shapes
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        COMPILED_READS.append(self)

    def _plan(self, alias: str, lengths: tuple[int, ...], shape: tuple[int, ...]) -> _Plan | None:
        connection = connections[alias]
        key = (alias, connection.vendor, lengths, shape)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:
                return None
            plan = self._plans[key] = self._compile(alias, lengths, shape)
        return plan

    def _compile(self, alias: str, lengths: tuple[int, ...], shape: tuple[int, ...]) -> _Plan:
        ops = connections[alias].ops
        adapt = ops.adapt_datetimefield_value
        ids = {name: _STAND_IN - i for i, name in enumerate(self.ids)}
        ats = {name: _STAND_IN_AT + timedelta(microseconds=i) for i, name in enumerate(self.datetimes)}
        texts = {name: _STAND_IN_TEXT.format(i) for i, name in enumerate(self.texts)}
        likes = {name: _STAND_IN_LIKE.format(i) for i, name in enumerate(self.likes)}
        lists = {name: [_STAND_IN - _LIST_STEP * (k + 1) - j for j in range(n)]
                 for k, (name, n) in enumerate(zip(self.lists, lengths, strict=True))}
        shapes = dict(zip(self.shapes, shape, strict=True))
        # What each stand-in looks like among the compiled parameters, and what it stands for.
        wanted: dict[tuple[type, Any], tuple[str, str | int]] = {(int, v): (name, "id") for name, v in ids.items()}
        wanted.update({(str, v): (name, "text") for name, v in texts.items()})
        for name, at in ats.items():
            adapted = adapt(at)
            wanted[(type(adapted), adapted)] = (name, "at")
        for name, values in lists.items():
            wanted.update({(int, v): (name, j) for j, v in enumerate(values)})
        queryset = self.build(**ids, **ats, **lists, **texts, **likes, **shapes).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = tuple((i, *wanted[(type(p), p)]) for i, p in enumerate(params) if (type(p), p) in wanted)
        found = {(name, kind) for _i, name, kind in slots}
        missing = sorted({name for name, kind in wanted.values() if (name, kind) not in found})
        like_slots = []
        for name, stand_in in likes.items():
            escaped = ops.prep_for_like_query(stand_in)
            mark = stand_in[: stand_in.index("\\") + 1]  # in the raw text and the escaped one
            places = [i for i, p in enumerate(params) if type(p) is str and mark in p]
            # Bound only where the ORM wrote the pattern as prep_for_like_query escapes it, once.
            if not places or any(params[i].count(escaped) != 1 for i in places):
                missing.append(name)
                continue
            like_slots += [(i, name, *params[i].split(escaped)) for i in places]
        if missing:
            raise ValueError(f"{self.model.__name__} read: {sorted(missing)} not found among its parameters")
        klass_info = compiler.klass_info
        init_list: tuple[str, ...]
        populators: tuple[Any, ...]
        if self.rows:
            if queryset._iterable_class is not ValuesListIterable:
                raise ValueError(f"compiled rows come from values_list(), not {queryset._iterable_class.__name__}")
            start, end, init_list, populators = 0, 0, (), ()
        else:
            if klass_info is None or klass_info["model"] is not self.model or queryset._iterable_class is not ModelIterable:
                raise ValueError(f"a compiled read gives {self.model.__name__} instances, not values or another model")
            fields = klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            init_list = tuple(f[0].target.attname for f in compiler.select[start:end])
            # django-stubs has Django 6's signature (fetch_mode); 5.2 takes these three.
            populators = tuple(get_related_populators(klass_info, compiler.select, alias))  # type: ignore[call-arg]
        select = compiler.select
        converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
        return _Plan(
            sql=sql, params=tuple(params), slots=slots, like_slots=tuple(like_slots), model=self.model,
            col_count=compiler.col_count, init_list=init_list, model_start=start, model_end=end,
            populators=populators, annotations=tuple(compiler.annotation_col_map.items()),
            converters=tuple((pos, tuple(convs), expr) for pos, (convs, expr) in converters.items()),
        )

    def _fetch(self, values: dict[str, Any]) -> tuple[_Plan, str, list[list[Any]]] | None:
        """The plan's rows, converted as the ORM converts them; None: ask the queryset."""
        # The ORM drops an IN list's repeats, keeping the first of each (and its order).
        lists = {name: list(dict.fromkeys(values[name])) if isinstance(values.get(name), list | tuple) else None
                 for name in self.lists}
        if not (all(_is_id(values.get(name)) for name in self.ids)
                and all(type(values.get(name)) is datetime and values[name].utcoffset() is not None
                        for name in self.datetimes)
                and all(v is not None and 0 < len(v) <= MAX_LIST and all(map(_is_id, v)) for v in lists.values())
                and all(type(values.get(name)) is str for name in (*self.texts, *self.likes))
                and all(type(values.get(name)) is int and 0 <= values[name] <= _MAX_SHAPE for name in self.shapes)):
            # Anything else (text from a caller, an id no column holds, a naive datetime, an
            # empty or long list) as the ORM takes it.
            return None
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        plan = self._plan(alias, tuple(len(v) for v in lists.values()),  # type: ignore[arg-type]
                          tuple(values[name] for name in self.shapes))
        if plan is None:
            return None
        adapt = connection.ops.adapt_datetimefield_value
        params = list(plan.params)
        for i, name, kind in plan.slots:
            if kind in ("id", "text"):
                params[i] = values[name]
            elif kind == "at":
                params[i] = adapt(values[name])
            else:
                params[i] = lists[name][kind]  # type: ignore[index]
        for i, name, before, after in plan.like_slots:
            params[i] = before + connection.ops.prep_for_like_query(values[name]) + after
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            fetched = cursor.fetchall()
        rows = []
        for one in fetched:
            row = list(one)
            for pos, convs, expression in plan.converters:
                value = row[pos]
                for convert in convs:
                    value = convert(value, expression, connection)
                row[pos] = value
            rows.append(row)
        return plan, alias, rows


class CompiledRead(_Compiled, Generic[M]):
    """``build(**values)`` returns the queryset; ``read(**values)`` its model instances."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]], *ids: str,
                 datetimes: tuple[str, ...] = (), lists: tuple[str, ...] = (), texts: tuple[str, ...] = (),
                 likes: tuple[str, ...] = (), shapes: tuple[str, ...] = ()):
        super().__init__(model, build, *ids, datetimes=datetimes, lists=lists, texts=texts, likes=likes,
                         shapes=shapes)

    def read(self, **values: Any) -> list[M]:
        fetched = self._fetch(values)
        if fetched is None:
            return list(self.build(**values))
        plan, alias, rows = fetched
        found = []
        for row in rows:
            obj = plan.model.from_db(alias, plan.init_list, row[plan.model_start:plan.model_end])
            for populator in plan.populators:
                populator.populate(row, obj)
            for name, pos in plan.annotations:
                setattr(obj, name, row[pos])
            found.append(obj)
        return found  # type: ignore[return-value]  # instances of plan.model, which is M

    def first(self, **values: Any) -> M | None:
        rows = self.read(**values)
        return rows[0] if rows else None


class CompiledRows(_Compiled):
    """A ``values_list`` queryset compiled once: ``read(**values)`` gives its tuples."""

    rows = True

    def read(self, **values: Any) -> list[tuple[Any, ...]]:
        fetched = self._fetch(values)
        if fetched is None:
            return list(self.build(**values))
        plan, _alias, rows = fetched
        return [tuple(row[:plan.col_count]) for row in rows]
