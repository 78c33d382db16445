"""Dore 2019's table 1 (who was treated, overall and by site), folded chunk by chunk of
the report's patients: counts per category and the ages' count, sum and sum of squares,
so that nothing a patient is kept once a chunk is counted (ADR 0093)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from openkap.accounts.models import Site
from openkap.core.outcomes import suppress_count
from openkap.core.outcomes.suppression import SMALL
from openkap.core.routes import ROUTE_LABELS
from openkap.outcomes.cohort import Enrolled, as_date, raw_chunks
from openkap.pathway.models import Intake
from openkap.patients.models import Patient

_ROUTE_LABEL = {route.value: label for route, label in ROUTE_LABELS.items()}


@dataclass
class Demographics:
    """Who was treated, overall or at one site."""

    n: int = 0
    age_n: int = 0
    age_sum: int = 0
    age_squares: int = 0
    sex: Counter[str] = field(default_factory=Counter)
    gender: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    diagnoses: Counter[str] = field(default_factory=Counter)

    def add_ages(self, ages: np.ndarray) -> None:
        self.age_n += len(ages)
        self.age_sum += int(ages.sum())
        self.age_squares += int((ages * ages).sum())

    def to_dict(self, *, suppress: bool) -> dict[str, Any]:
        count = suppress_count if suppress else (lambda k: k)
        hide = suppress and self.n <= SMALL
        n, total = self.age_n, self.age_sum

        def counts(c: Counter[str]) -> list[dict[str, Any]]:
            return [{"label": k, "n": count(v)} for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]

        return {
            "n": count(self.n),
            # statistics.fmean and statistics.stdev of the ages, from their sums (a test checks).
            "age_mean": None if hide or not n else round(total / n, 1),
            "age_sd": None if hide or n < 2 else round(sqrt_of_fraction(n * self.age_squares - total * total,
                                                                        n * (n - 1)), 1),
            "sex_at_birth": counts(self.sex),
            "gender_identity": counts(self.gender),
            "route": counts(self.routes),
            "diagnosis": counts(self.diagnoses),
        }


_SQRT_BIT_WIDTH = 2 * sys.float_info.mant_dig + 3


def sqrt_of_fraction(n: int, m: int) -> float:
    """The square root of n/m correctly rounded, as `statistics.stdev` takes it of the
    exact variance (CPython's `statistics._float_sqrt_of_frac`: round to odd, then once)."""
    q = (n.bit_length() - m.bit_length() - _SQRT_BIT_WIDTH) // 2
    if q >= 0:
        return (_isqrt_to_odd(n, m << 2 * q) << q) / 1
    return _isqrt_to_odd(n << -2 * q, m) / (1 << -q)


def _isqrt_to_odd(n: int, m: int) -> int:
    a = math.isqrt(n // m)
    return a | (a * a * m != n)


class DemographicsTally:
    """Overall and by site, chunk by chunk. The categories are counted once per distinct
    combination in a chunk (a cohort has few), ages from date arrays."""

    def __init__(self, organization_id: int) -> None:
        self.organization_id = organization_id
        self.sites = dict(Site.objects.filter(organization_id=organization_id).values_list("id", "name"))
        self.overall = Demographics()
        self.by_site: dict[str, Demographics] = {}

    def read(self, patients: tuple[int, int]) -> DemographicsRows:
        """What `add` needs of the chunk of patients with ids in the closed range `patients`."""
        low, high = patients
        intakes = list(Intake.objects.filter(
            organization_id=self.organization_id, episode__patient_id__gte=low, episode__patient_id__lte=high,
        ).values_list("episode_id", "diagnoses"))
        rows = Patient.objects.filter(organization_id=self.organization_id, id__gte=low, id__lte=high).values_list(
            "id", "date_of_birth", "sex_at_birth", "gender_identity")
        return DemographicsRows(intakes, [row for chunk in raw_chunks(rows, bounded=True) for row in chunk])

    def add(self, kept: dict[int, Enrolled], rows: DemographicsRows) -> None:
        """The patients `kept` of a chunk whose rows `read` gave."""
        if not kept:
            return
        episodes = {r.episode_id for r in kept.values()}
        diagnoses_of = {
            episode_id: tuple(sorted({str(d.get("code", ""))[:3].upper() for d in diagnoses or [] if d.get("code")}))
            for episode_id, diagnoses in rows.intakes
            if episode_id in episodes
        }
        first_days: list[int] = []
        born: list[date] = []
        people: list[tuple[str, str, str, str, tuple[str, ...]]] = []
        for pid, dob, sex, gender in rows.patients:
            record = kept.get(pid)
            if record is not None:
                first_days.append(record.first_day_number)
                born.append(as_date(dob))
                people.append((self.sites.get(record.site_id, f"Site {record.site_id}"), sex or "not recorded",
                               gender or "not recorded", _ROUTE_LABEL.get(record.route, "Not recorded"),
                               diagnoses_of.get(record.episode_id) or ("not recorded",)))
        ages = _ages(np.array(born, "datetime64[D]"), np.array(first_days, np.int64).astype("datetime64[D]"))
        site_of = np.array([site for site, *_ in people])
        self.overall.add_ages(ages)
        for site in set(site_of.tolist()):
            self.by_site.setdefault(site, Demographics()).add_ages(ages[site_of == site])
        for (site, sex, gender, route, codes), n in Counter(people).items():
            for demo in (self.overall, self.by_site[site]):
                demo.n += n
                demo.sex[sex] += n
                demo.gender[gender] += n
                demo.routes[route] += n
                for code in codes:
                    demo.diagnoses[code] += n


@dataclass(frozen=True)
class DemographicsRows:
    """One chunk's intakes (episode, diagnoses) and patients (id, birth date, sex, gender)."""

    intakes: list[tuple[int, Any]]
    patients: list[tuple[Any, ...]]


def _ages(born: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years from each birth date to the day `on`."""

    def year_month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        month = days.astype("datetime64[M]")
        return month.astype("datetime64[Y]").astype(np.int64), (
            (month.astype(np.int64) % 12) * 32 + (days - month).astype(np.int64))

    born_year, born_day = year_month_day(born)
    on_year, on_day = year_month_day(on)
    ages: np.ndarray = on_year - born_year - (on_day < born_day)
    return ages
