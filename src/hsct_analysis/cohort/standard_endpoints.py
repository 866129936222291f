"""The standard transplant endpoints, each defined once: which roles it needs, its event and its
competing events, and the function that turns role columns into ``(time, status)`` arrays.

A study file (:mod:`hsct_analysis.cohort.study`) names the endpoints it wants; the bundled
cohort's loader (:mod:`hsct_analysis.cohort.contract`) derives the same endpoints through the
same functions.

Roles (all times in days from time zero, e.g. the day of stem-cell infusion):

- ``followup``: days to death, or to last follow-up for patients alive (required).
- ``dead``: 1 dead, 0 alive at last follow-up (required).
- event roles (``EVENT_ROLES``; each optional): an :class:`Event` = ``time`` (the day of the
  event when it happened, otherwise the last day the patient was known to be free of it) and
  ``happened`` (bool). A cohort that records only the day of the event (empty when it did not
  happen) gives it through :func:`event_from_days`, which censors at ``followup``.

Status codes returned by every function:

- survival endpoints (``kind == "km"``): 1 event, 0 censored;
- competing-risks endpoints (``kind == "cif"``): 1 the endpoint's event, 2 its competing event
  (death without the event; relapse/NRM: 1 relapse, 2 death without relapse), 0 censored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Event",
    "EndpointData",
    "StandardEndpoint",
    "EVENT_ROLES",
    "STANDARD_ENDPOINTS",
    "ALIASES",
    "event_from_days",
    "event_from_codes",
    "overall_survival",
    "leukemia_free_survival",
    "relapse_nrm",
    "relapse",
    "nrm",
    "grfs",
    "competing_with_death",
    "custom_endpoint",
    "standard_endpoint",
    "derive",
]


@dataclass(frozen=True)
class Event:
    """One event role: ``time`` (days; event day, or last day known free of it) and ``happened``."""

    time: np.ndarray
    happened: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", np.asarray(self.time, dtype=float))
        object.__setattr__(self, "happened", np.asarray(self.happened, dtype=bool))
        if self.time.shape != self.happened.shape:
            raise ValueError(f"time has {self.time.size} values but happened has {self.happened.size}")


@dataclass(frozen=True)
class EndpointData:
    """A derived endpoint: ``time`` (days) and integer ``status`` (codes in the module docstring)."""

    time: np.ndarray
    status: np.ndarray

    def counts(self) -> dict[int, int]:
        """Patients per status code, e.g. ``{0: 54, 1: 42, 2: 41}``."""
        codes, n = np.unique(self.status, return_counts=True)
        return {int(c): int(k) for c, k in zip(codes, n)}


def event_from_days(days, followup) -> Event:
    """An event recorded as its day (NaN: did not happen), censored at ``followup`` otherwise.

    This is the bundled cohort's convention (``relapse_days``, ``cgvhd_days``, ...).
    """
    days = np.asarray(days, dtype=float)
    followup = np.asarray(followup, dtype=float)
    happened = ~np.isnan(days)
    return Event(np.where(happened, days, followup), happened)


def event_from_codes(time, codes, event_codes) -> Event:
    """An event recorded as a time column plus a code column; ``event_codes`` mean it happened."""
    codes = np.asarray(codes, dtype=object)
    happened = np.isin(codes, list(event_codes))
    return Event(np.asarray(time, dtype=float), happened)


def _dead(dead) -> np.ndarray:
    return np.asarray(dead, dtype=float) == 1


def overall_survival(followup, dead) -> EndpointData:
    """OS: time ``followup``; status 1 dead, 0 alive (censored)."""
    return EndpointData(np.asarray(followup, dtype=float), _dead(dead).astype(int))


def leukemia_free_survival(followup, dead, relapse: Event) -> EndpointData:
    """LFS (= DFS): time ``relapse.time``; status 1 relapse or death, 0 alive without relapse.

    With the relapse day censored at follow-up (:func:`event_from_days`) the time is the
    relapse day for patients who relapsed and ``followup`` for the others.
    """
    return EndpointData(relapse.time, (relapse.happened | _dead(dead)).astype(int))


def relapse_nrm(followup, dead, relapse: Event) -> EndpointData:
    """Relapse and non-relapse mortality as competing risks, at ``relapse.time``.

    Status 1 relapse, 2 death without relapse (NRM), 0 alive without relapse (censored).
    """
    status = np.select([relapse.happened, _dead(dead)], [1, 2], default=0)
    return EndpointData(relapse.time, status)


#: Relapse incidence is cause 1 and NRM cause 2 of the same derivation.
relapse = relapse_nrm
nrm = relapse_nrm


def grfs(followup, dead, relapse: Event, agvhd_3_4: Event, cgvhd_extensive: Event) -> EndpointData:
    """GVHD-free, relapse-free survival (Holtan et al. 2015): the first of grade III–IV acute GVHD,
    chronic GVHD needing systemic treatment (``cgvhd_extensive``: extensive or moderate-severe),
    relapse, or death.

    Time: the earliest of the components' times (death's is ``followup``); status 1 when a
    component happened at that time, 0 otherwise (censored at the earliest day a component's
    follow-up ends).
    """
    died = _dead(dead)
    times = np.vstack([relapse.time, agvhd_3_4.time, cgvhd_extensive.time, np.asarray(followup, float)])
    happened = np.vstack([relapse.happened, agvhd_3_4.happened, cgvhd_extensive.happened, died])
    first = times.min(axis=0)
    event = (happened & (times == first)).any(axis=0)
    return EndpointData(first, event.astype(int))


def competing_with_death(followup, dead, event: Event) -> EndpointData:
    """An event with death as its competing risk, at ``event.time``.

    Status 1 the event, 2 death without it, 0 censored. The rule of every GVHD, engraftment,
    viral-infection, PTLD and TA-TMA incidence.
    """
    status = np.select([event.happened, _dead(dead)], [1, 2], default=0)
    return EndpointData(event.time, status)


def custom_endpoint(time, event, competing=()) -> EndpointData:
    """A study-defined endpoint: status 1 where ``event`` (bool) holds, otherwise ``k + 2`` for the
    first ``competing[k]`` (bool arrays) that holds, otherwise 0 (censored)."""
    event = np.asarray(event, dtype=bool)
    conditions = [event] + [np.asarray(c, dtype=bool) for c in competing]
    status = np.select(conditions, list(range(1, len(conditions) + 1)), default=0)
    return EndpointData(np.asarray(time, dtype=float), status)


@dataclass(frozen=True)
class EventRole:
    """An optional event role a cohort can record, with the words that mean it happened."""

    name: str
    label: str
    words: tuple[str, ...]


#: The optional event roles, by name (days from time zero; see the module docstring).
EVENT_ROLES: dict[str, EventRole] = {
    r.name: r
    for r in [
        EventRole("relapse", "relapse of the disease", ("relapse", "relapsed")),
        EventRole("agvhd_2_4", "acute GVHD grade II–IV", ("agvhd", "acute gvhd", "gvhd")),
        EventRole("agvhd_3_4", "acute GVHD grade III–IV", ("agvhd", "acute gvhd", "gvhd")),
        EventRole("cgvhd", "chronic GVHD of any severity", ("cgvhd", "chronic gvhd", "gvhd")),
        EventRole("cgvhd_extensive", "chronic GVHD, extensive or moderate-severe", ("cgvhd", "chronic gvhd", "gvhd")),
        EventRole("neutrophil_engraftment", "neutrophil engraftment", ("engrafted", "engraftment", "recovered")),
        EventRole("platelet_engraftment", "platelet engraftment", ("engrafted", "engraftment", "recovered")),
        EventRole("cmv", "CMV infection or viremia", ("cmv", "positive")),
        EventRole("ebv", "EBV infection or viremia", ("ebv", "positive")),
        EventRole("ptld", "post-transplant lymphoproliferative disorder", ("ptld",)),
        EventRole("tma", "transplant-associated thrombotic microangiopathy", ("tma", "ta-tma")),
    ]
}

#: Words that mean "the event happened" for every role (besides the role's own words).
EVENT_WORDS: tuple[str, ...] = ("yes", "event")
#: Words that mean "dead" in the ``dead`` role's codes.
DEAD_WORDS: tuple[str, ...] = ("dead", "death", "died", "yes", "event")


@dataclass(frozen=True)
class StandardEndpoint:
    """A named standard endpoint: ``kind`` "km" (survival) or "cif" (competing risks, ``cause``
    the endpoint's own code), the event roles it needs, and what its status codes mean."""

    name: str
    label: str
    kind: str
    roles: tuple[str, ...]
    codes: dict[int, str]
    derive: Callable[..., EndpointData]
    cause: int = 1

    @property
    def competing(self) -> tuple[str, ...]:
        """Labels of the competing events (empty for survival endpoints)."""
        return tuple(v for c, v in self.codes.items() if c not in (0, self.cause))


def _death_competing(role: str, label: str) -> StandardEndpoint:
    return StandardEndpoint(
        role,
        label,
        "cif",
        (role,),
        {0: "censored", 1: EVENT_ROLES[role].label, 2: f"death without {EVENT_ROLES[role].label}"},
        lambda followup, dead, event: competing_with_death(followup, dead, event),
    )


_RELAPSE_CODES = {0: "censored (alive without relapse)", 1: "relapse", 2: "death without relapse (NRM)"}

#: Every standard endpoint, by name. ``dfs`` is an alias of ``lfs`` (see ``ALIASES``).
STANDARD_ENDPOINTS: dict[str, StandardEndpoint] = {
    e.name: e
    for e in [
        StandardEndpoint("os", "Overall survival", "km", (), {0: "alive (censored)", 1: "death"}, overall_survival),
        StandardEndpoint(
            "lfs",
            "Leukemia-free survival",
            "km",
            ("relapse",),
            {0: "alive without relapse (censored)", 1: "relapse or death"},
            leukemia_free_survival,
        ),
        StandardEndpoint("relapse", "Relapse incidence", "cif", ("relapse",), _RELAPSE_CODES, relapse_nrm, 1),
        StandardEndpoint("nrm", "Non-relapse mortality", "cif", ("relapse",), _RELAPSE_CODES, relapse_nrm, 2),
        StandardEndpoint(
            "grfs",
            "GVHD-free, relapse-free survival",
            "km",
            ("relapse", "agvhd_3_4", "cgvhd_extensive"),
            {0: "censored", 1: "grade III–IV acute GVHD, extensive chronic GVHD, relapse or death"},
            grfs,
        ),
        _death_competing("agvhd_2_4", "Acute GVHD grade II–IV"),
        _death_competing("agvhd_3_4", "Acute GVHD grade III–IV"),
        _death_competing("cgvhd", "Chronic GVHD, any"),
        _death_competing("cgvhd_extensive", "Chronic GVHD, extensive or moderate-severe"),
        _death_competing("neutrophil_engraftment", "Neutrophil engraftment"),
        _death_competing("platelet_engraftment", "Platelet engraftment"),
        _death_competing("cmv", "CMV infection"),
        _death_competing("ebv", "EBV infection"),
        _death_competing("ptld", "PTLD"),
        _death_competing("tma", "TA-TMA"),
    ]
}

#: Other names a study file may use for a standard endpoint.
ALIASES: dict[str, str] = {"dfs": "lfs"}


def standard_endpoint(name: str) -> StandardEndpoint:
    """The standard endpoint called ``name`` (or an alias such as ``dfs``)."""
    key = ALIASES.get(name, name)
    if key not in STANDARD_ENDPOINTS:
        known = ", ".join(list(STANDARD_ENDPOINTS) + list(ALIASES))
        raise KeyError(f"unknown standard endpoint {name!r}; known: {known}")
    return STANDARD_ENDPOINTS[key]


def derive(name: str, followup, dead, events: dict[str, Event]) -> EndpointData:
    """Endpoint ``name`` from the core roles and the event roles it needs (``events`` by role name)."""
    ep = standard_endpoint(name)
    missing = [r for r in ep.roles if r not in events]
    if missing:
        raise KeyError(f"endpoint {name!r} needs the event role(s) {', '.join(missing)}")
    return ep.derive(followup, dead, *(events[r] for r in ep.roles))
