"""Draft a study file from a cohort file: ``hsct-book init DIR --cohort FILE``.

The draft maps what it can recognise and says how it recognised it, in a YAML comment beside each guess:

- the patient id: a column named like an id whose values are all different;
- time/indicator pairs: a 0/1 column and a time column that belong together by name (``tX``/``dX``,
  ``X_time``/``X_event``, ``X_days``/``X_status``, ``time``/``delta``);
- follow-up and vital status: the pair whose time is, for (nearly) every patient, the largest time of the
  row, or a pair named like survival or death; or a plain time column (``futime``, ``time``) beside a status
  column of words, one meaning death and one censored (``death``/``censored``, as ``survival::transplant``):
  its other codes (``ltx``, ``withdraw``) are read as alive at last follow-up and each becomes a custom
  endpoint, with death competing, for the user to name;
- event roles (relapse, GVHD, engraftment, CMV, EBV, PTLD, TA-TMA): the remaining pairs, by name; a pair
  whose name says nothing becomes a custom endpoint for the user to name;
- event days: a numeric column named like a time (``rltime``, ``relapse_days``) that is empty for some
  patients and, where filled, no later than their follow-up: the day of an event that the others did
  not have (the study file's ``days`` form); mapped to its role by name, otherwise left for the user to
  map and not offered as a factor;
- every other column: a candidate risk factor (categorical when it has at most
  :data:`MAX_LEVELS` values, otherwise continuous with a median cut) and a baseline-table row.

Every guess must be read by a person. Whatever cannot be guessed is written as a ``TODO`` that the
study-file validator reports with its line, so "validate" says exactly what to fill in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from hsct_analysis.cohort.contract import (
    NotATable,
    file_kind,
    formula_problem,
    repeated_names,
    repeated_names_rule,
    sheet_names,
)

#: A column with at most this many distinct values is drafted as a categorical factor.
MAX_LEVELS = 6
#: Share of patients whose follow-up must be the largest time of their row.
FOLLOWUP_SHARE = 0.9
#: Cell values read as missing: the study file's default ``cohort.not_applicable``.
NOT_APPLICABLE = ("", "NA")

_ID_NAMES = ("id", "patient_id", "patient", "subject", "subject_id", "pid", "record_id", "case")
_ROLE_WORDS = {
    "relapse": ("relapse", "rel", "recur", "rl"),
    "agvhd_2_4": ("agvhd", "acute_gvhd", "agvh"),
    "cgvhd": ("cgvhd", "chronic_gvhd", "cgvh"),
    "neutrophil_engraftment": ("anc", "neutro", "neut", "engraft"),
    "platelet_engraftment": ("plt", "platelet", "plat"),
    "cmv": ("cmv",),
    "ebv": ("ebv",),
    "ptld": ("ptld",),
    "tma": ("tma",),
}
_DEATH_WORDS = ("death", "dead", "died", "os", "surv", "vital", "alive")
#: Values of a status column of words: one that means death, and ones that mean alive or censored at last follow-up.
_DIED_VALUES = ("death", "dead", "died", "deceased", "expired")
_CENSORED_VALUES = ("censored", "censor", "alive", "living", "lost", "lost to follow-up", "lfu", "none")
_UNIT_LIMITS = (("years", 40), ("months", 500))  # largest time below the limit suggests this unit


@dataclass
class Pair:
    """A time column and its 0/1 indicator column, or its status column of words (``codes``: code -> meaning)."""

    time: str
    event: str
    stem: str
    why: str
    codes: dict | None = None


@dataclass
class Draft:
    """The drafted study: YAML text and the list of what a person must fill in or check."""

    text: str
    todo: list[str] = field(default_factory=list)


def read_table(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """The cohort file as text-preserving columns (CSV or ``.xlsx``; ``sheet``: the workbook's sheet, default the
    first), numbers parsed where every value is one."""
    # The study file's default ``cohort.not_applicable`` (an empty cell, ``NA`` as R writes it) is missing here too.
    kind = file_kind(path)  # a JSON, PDF or UTF-16 file is named as such (contract.NotATable), as validate names it
    if sheet is not None and kind != "xlsx":
        raise NotATable("is not an Excel workbook (.xlsx): --sheet names a sheet of a workbook")
    where, others = "it has", ""
    if kind == "xlsx":
        sheets = sheet_names(path)
        if sheet is not None and sheet not in sheets:
            raise NotATable(f"has no sheet {sheet!r}; its sheets: {', '.join(repr(s) for s in sheets)}")
        at = sheet if sheet is not None else sheets[0]
        where = f"its sheet {at!r} has"
        if sheet is None and len(sheets) > 1:
            others = f"; the workbook's other sheets: {', '.join(repr(s) for s in sheets[1:])} (give --sheet NAME)"
        unsaved = formula_problem(path, str(path), sheet=at)  # read for values, such a cell would be empty
        if unsaved is not None:
            raise NotATable(f"sheet {at!r}, line {unsaved.line}, column {unsaved.column}: {unsaved.rule}")
        frame = pd.read_excel(path, sheet_name=at, dtype=str, keep_default_na=False, na_values=list(NOT_APPLICABLE))
        written = pd.read_excel(path, sheet_name=at, dtype=str, header=None, nrows=1)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(NOT_APPLICABLE), encoding=kind)
        written = pd.read_csv(path, dtype=str, header=None, nrows=1, keep_default_na=False, encoding=kind)
    for name, positions in repeated_names(list(written.iloc[0].fillna("")) if len(written) else []).items():
        raise ValueError(f"line 1, column {name!r}: {repeated_names_rule(name, positions)}")
    if any(re.search(r"[\x00-\x08\x0b-\x1f]", str(c)) for c in frame.columns):
        raise ValueError("its first line holds control characters: it is not a text (CSV) file")
    if len(frame.columns) < 2 or frame.empty:
        raise NotATable(
            f"{where} {len(frame.columns)} column(s) and {len(frame)} row(s); a cohort table has one row per patient "
            f"and several columns{', separated by commas' if kind != 'xlsx' else ''}{others}"
        )
    for column in frame.columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().sum() == frame[column].notna().sum():
            frame[column] = numbers
    return frame


def _is_indicator(values: pd.Series) -> bool:
    present = set(values.dropna().unique())
    return bool(present) and present <= {0, 1} and pd.api.types.is_numeric_dtype(values)


def _is_time(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and values.dropna().ge(0).all() and values.nunique() > MAX_LEVELS


def _stem(name: str) -> tuple[str, str] | None:
    """(stem, kind) of a column name: kind "time" or "event", or None."""
    low = name.lower()
    for suffix, kind in (
        ("_time", "time"),
        ("_days", "time"),
        ("_t", "time"),
        ("_event", "event"),
        ("_status", "event"),
        ("_ind", "event"),
        ("_d", "event"),
    ):
        if low.endswith(suffix) and len(low) > len(suffix):
            return low[: -len(suffix)], kind
    match = re.fullmatch(r"([td])([a-z0-9]+)", low)
    if match:
        return match.group(2), "time" if match.group(1) == "t" else "event"
    return None


#: Name endings of a column holding a time or a day (``rltime``, ``relapse_days``, ``cr_t``).
_TIME_ENDINGS = ("_days", "days", "_day", "day", "_time", "time", "_t")


def _day_stem(name: str) -> str | None:
    """The stem of a column named like a time or day (``rltime`` -> ``rl``), or None."""
    low = name.lower()
    for ending in _TIME_ENDINGS:
        if low.endswith(ending) and len(low) > len(ending):
            return low[: -len(ending)].rstrip("_") or None
    return None


def find_day_columns(frame: pd.DataFrame, followup: str, used: set[str]) -> list[tuple[str, str, int]]:
    """Columns (not in ``used``) that look like the day of an event some patients had: named like a time
    (:func:`_day_stem`), numeric, empty for some patients, and where filled at least 0 and (for
    :data:`FOLLOWUP_SHARE` of them) no later than ``followup``. Returns (column, stem, patients with a day)."""
    found = []
    for column in frame.columns:
        stem = _day_stem(str(column))
        values = frame[column]
        if column in used or stem is None or not pd.api.types.is_numeric_dtype(values):
            continue
        filled = values.notna()
        if filled.all() or not filled.any() or not values[filled].ge(0).all():
            continue
        within = float((values[filled] <= frame.loc[filled, followup]).mean())
        if within >= FOLLOWUP_SHARE:
            found.append((column, stem, int(filled.sum())))
    return found


def _status_words(values: pd.Series) -> dict | None:
    """code -> meaning of a status column of words (``death``, ``censored``, ``ltx``...): ``dead`` for a death word,
    ``alive`` for a censoring word, the code itself for any other (another way to leave follow-up, such as a liver
    transplant or withdrawal); None unless some value means death and some other means censored."""
    if pd.api.types.is_numeric_dtype(values) or not 2 <= values.nunique() <= MAX_LEVELS:
        return None
    codes = {str(v): str(v).strip().lower() for v in sorted(values.dropna().unique(), key=str)}
    meaning = {
        code: "dead" if word in _DIED_VALUES else "alive" if word in _CENSORED_VALUES else code
        for code, word in codes.items()
    }
    return meaning if {"dead", "alive"} <= set(meaning.values()) else None


def find_pairs(frame: pd.DataFrame) -> list[Pair]:
    """Time/indicator pairs of ``frame`` recognised by name, and a plain time column with a status column of words."""
    times = {c: _stem(c) for c in frame.columns if _is_time(frame[c])}
    events = {c: _stem(c) for c in frame.columns if _is_indicator(frame[c])}
    pairs: list[Pair] = []
    for e, es in events.items():
        for t, ts in times.items():
            if es and ts and es[0] == ts[0] and es[1] == "event" and ts[1] == "time":
                pairs.append(Pair(t, e, es[0], f"{t!r} and {e!r} share the name {es[0]!r}"))
    used = {p.event for p in pairs} | {p.time for p in pairs}
    plain_time = [c for c in times if c.lower() in ("time", "futime", "survtime", "days") and c not in used]
    plain_event = [
        c for c in events if c.lower() in ("delta", "status", "event", "dead", "death", "fustat") and c not in used
    ]
    if len(plain_time) == 1 and len(plain_event) == 1:
        pairs.append(
            Pair(
                plain_time[0],
                plain_event[0],
                "survival",
                f"{plain_time[0]!r} and {plain_event[0]!r} are the usual names of a survival pair",
            )
        )
    worded = {c: _status_words(frame[c]) for c in frame.columns if c not in used and c not in plain_event}
    worded = {c: codes for c, codes in worded.items() if codes}
    if len(plain_time) == 1 and len(worded) == 1 and not any(p.time == plain_time[0] for p in pairs):
        (column, codes), (time,) = worded.popitem(), plain_time
        pairs.append(
            Pair(
                time,
                column,
                "survival",
                f"{time!r} is the usual name of a survival time and {column!r} says who "
                f"died ({', '.join(c for c, m in codes.items() if m == 'dead')})",
                codes,
            )
        )
    return pairs


def _followup(frame: pd.DataFrame, pairs: list[Pair]) -> tuple[Pair | None, str]:
    named = [p for p in pairs if any(w in p.stem for w in _DEATH_WORDS) or p.stem in ("1", "survival")]
    if len(named) == 1:
        return named[0], f"named like survival or death ({named[0].why})"
    time_columns = [p.time for p in pairs]
    if len(time_columns) >= 2:
        largest = frame[time_columns].max(axis=1)
        for p in pairs:
            share = float((frame[p.time] >= largest).mean())
            if share >= FOLLOWUP_SHARE:
                return p, f"its time is the largest time of the row for {100 * share:.0f}% of patients"
    if len(pairs) == 1:
        return pairs[0], "the only time/indicator pair"
    return None, ""


def _role(stem: str) -> str | None:
    for role, words in _ROLE_WORDS.items():
        if any(stem == w or stem.startswith(w) or w in stem.split("_") for w in words):
            return role
    return None


def _unit(frame: pd.DataFrame, column: str) -> tuple[str, str]:
    top = float(frame[column].max())
    for unit, limit in _UNIT_LIMITS:
        if top < limit:
            return unit, f"the longest time is {top:g}: probably {unit}; check"
    return "days", f"the longest time is {top:g}: probably days; check"


def _plain(value):
    """A NumPy scalar as a Python one, and a whole float as an int (2.0 -> 2)."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _levels(values: pd.Series) -> dict:
    """code -> label (the code as text) of every value, in sorted order."""
    return {_plain(v): str(_plain(v)) for v in sorted(values.dropna().unique(), key=str)}


def _factor(frame: pd.DataFrame, column: str) -> tuple[dict, str]:
    values = frame[column]
    if values.nunique() <= MAX_LEVELS:
        levels = _levels(values)
        most = values.value_counts().index[0]
        reference = next(label for code, label in levels.items() if str(code) == str(_plain(most)))
        why = f"{values.nunique()} values: categorical; the most frequent is the reference; name the levels"
        if _is_indicator(values):
            why += " (a 0/1 column: a factor, or an event indicator without its own time column?)"
        return {"column": column, "label": column, "levels": levels, "reference": reference}, why
    cut = _plain(round(float(values.median()), 3))
    return (
        {"column": column, "label": column, "cuts": [cut], "reference": f"<={cut}"},
        "continuous: cut at the median; choose a cut point fixed in advance",
    )


def draft_study(cohort_path: str | Path, study_dir: str | Path, sheet: str | None = None) -> Draft:
    """Draft ``study.yml`` for ``cohort_path`` (the file is referred to relative to ``study_dir``; ``sheet``: the
    sheet of a workbook to read, default its first)."""
    cohort_path, study_dir = Path(cohort_path), Path(study_dir)
    frame = read_table(cohort_path, sheet)
    todo: list[str] = []
    notes: dict[str, str] = {}
    used: set[str] = set()

    id_column = next((c for c in frame.columns if c.lower() in _ID_NAMES and frame[c].is_unique), None)
    if id_column is not None:
        notes["id"] = f"named like an id, all {len(frame)} values different"
        used.add(id_column)

    pairs = find_pairs(frame)
    follow, why = _followup(frame, pairs)
    cohort: dict = _Block(
        {
            "file": _relative(cohort_path, study_dir),
            "time_unit": "days",
            "time_zero": "TODO: what day 0 is, e.g. day of stem-cell infusion",
        }
    )
    if sheet is not None:
        cohort["sheet"] = sheet
    elif file_kind(cohort_path) == "xlsx" and len(sheets := sheet_names(cohort_path)) > 1:
        todo.append(
            f"cohort.sheet: the workbook has {len(sheets)} sheets and its first, {sheets[0]!r}, was read; for another, "
            "run init again with --sheet NAME"
        )
    if id_column is not None:
        cohort["id"] = id_column
    todo.append("cohort.time_zero: say what day 0 is")
    endpoints: dict = {"standard": []}
    custom: dict = {}
    if follow is not None:
        unit, unit_why = _unit(frame, follow.time)
        cohort["time_unit"] = unit
        notes["time_unit"] = unit_why
        cohort["followup"] = follow.time
        codes = follow.codes or {1: "dead", 0: "alive"}
        others = [c for c, meaning in codes.items() if meaning not in ("dead", "alive")]
        died = [c for c, meaning in codes.items() if meaning == "dead"]
        # another way to leave follow-up (ltx, withdraw) is alive when last seen, for overall survival
        cohort["dead"] = {"column": follow.event, "codes": {c: "alive" if c in others else m for c, m in codes.items()}}
        notes["followup"] = f"guess: {why}"
        used |= {follow.time, follow.event}
        endpoints["standard"].append("os")
        for code in others:
            name = re.sub(r"\W+", "_", code.lower()).strip("_") or "other"
            custom[f"event_{name}"] = {
                "label": f"TODO: name the event coded {code!r} in {follow.event}",
                "time": follow.time,
                "event": {
                    "column": follow.event,
                    "codes": [code],
                    "censored": [c for c in codes if c != code and c not in died],
                },
                "competing": [{"label": "death", "column": follow.event, "codes": died}],
            }
            todo.append(
                f"endpoints.custom.event_{name}: name the event coded {code!r} in {follow.event!r}; overall survival "
                "reads it as alive at last follow-up (cohort.dead): check"
            )
            censored = [c for c in codes if c != code and c not in died and c in others]
            if censored:
                todo.append(
                    f"endpoints.custom.event_{name}: {', '.join(repr(c) for c in censored)} read as censored for it; "
                    "a reason to leave follow-up that bears on the event (another transplant, withdrawal for "
                    "illness) is a competing event: move it to competing"
                )
    else:
        todo.append("cohort.followup and cohort.dead: no time/indicator pair looks like survival")

    events: dict = {}
    for pair in pairs:
        if pair is follow:
            continue
        role = _role(pair.stem)
        used |= {pair.time, pair.event}
        if role and role not in events:
            events[role] = {"time": pair.time, "column": pair.event, "codes": {1: "event", 0: "censored"}}
            notes[f"event:{role}"] = f"guess: {pair.why}; the name suggests {role}"
            endpoints["standard"] += ["lfs", "relapse", "nrm"] if role == "relapse" else [role]
        else:
            custom[f"event_{pair.stem}"] = {
                "label": f"TODO: name the event recorded in {pair.event}",
                "time": pair.time,
                "event": {"column": pair.event, "codes": [1]},
            }
            todo.append(
                f"endpoints.custom.event_{pair.stem}: name the event of {pair.event!r} (time {pair.time!r}),"
                " or map it to a role under cohort.events"
            )
    if follow is not None:
        for column, stem, n_days in find_day_columns(frame, follow.time, used):
            used.add(column)
            role = _role(stem)
            why = f"{column!r} holds a day for {n_days} of {len(frame)} patients, no later than their follow-up"
            if role and role not in events:
                events[role] = {"days": column}
                notes[f"event:{role}"] = f"guess: {why}; the name suggests {role}"
                endpoints["standard"] += ["lfs", "relapse", "nrm"] if role == "relapse" else [role]
            else:
                todo.append(
                    f"column {column!r} looks like the day of an event ({why}; empty for the others):"
                    f" map it under cohort.events as ROLE: {{days: {column}}} if it is one of the event roles;"
                    " not drafted as a factor"
                )
    if events:
        cohort["events"] = events
    if custom:
        endpoints["custom"] = custom

    factors, rows = {}, []
    for column in frame.columns:
        if column in used or frame[column].nunique() < 2:
            continue
        if frame[column].nunique() > MAX_LEVELS and not pd.api.types.is_numeric_dtype(frame[column]):
            todo.append(
                f"column {column!r} holds {frame[column].nunique()} different texts: not drafted as a factor;"
                " to use it, add it under risk_factors.factors with its levels"
            )
            continue
        spec, why = _factor(frame, column)
        key = re.sub(r"\W+", "_", str(column)).strip("_").lower() or "factor"
        factors[key] = spec
        notes[f"factor:{key}"] = why
        row = {"column": column, "label": column, "type": "categorical" if "levels" in spec else "continuous"}
        if "levels" in spec:
            row["levels"] = spec["levels"]
        rows.append(row)

    study = {
        "title": f"TODO: title of the study of {cohort_path.name}",
        "authors": ["TODO"],
        "min_cell": 5,
        "cohort": cohort,
        "endpoints": endpoints,
        "estimates": {"times": [1, 2, 3], "unit": "years"},
    }
    todo.append("title and authors")
    if rows:
        study["baseline"] = {"tables": [{"title": "Patient characteristics", "rows": rows}]}
    if factors:
        study["risk_factors"] = {"factors": factors, "multivariable": {"screening_p": 0.1, "models": ["fine_gray"]}}
    return Draft(_commented(study, notes, cohort_path), todo)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors: each factor's levels are written out where they are used."""

    def ignore_aliases(self, data):
        return True


class _Block(dict):
    """A mapping always written one key a line (the cohort section, even when every value is plain)."""


_Dumper.add_representer(_Block, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, False))


def _commented(study: dict, notes: dict[str, str], source: Path) -> str:
    """The study as YAML, with each guess's reason as a comment on its line."""
    text = yaml.dump(study, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    lines = text.splitlines()
    targets = {
        "id": r"^  id: ",
        "time_unit": r"^  time_unit: ",
        "followup": r"^  followup: ",
        **{k: rf"^    {re.escape(k.split(':', 1)[1])}:( {{.*}})?$" for k in notes if k.startswith("event:")},
        **{k: rf"^    {re.escape(k.split(':', 1)[1])}:$" for k in notes if k.startswith("factor:")},
    }
    for key, pattern in targets.items():
        if key not in notes:
            continue
        section = "risk_factors" if key.startswith("factor:") else "cohort"
        start = next((i for i, line in enumerate(lines) if line.startswith(f"{section}:")), 0)
        index = next((i for i in range(start, len(lines)) if re.match(pattern, lines[i])), None)
        if index is not None:
            lines[index] += f"  # {notes[key]}"
    header = [
        f"# Study file drafted by `hsct-book init --cohort {source.name}`: every guess is commented; read each one.",
        "# Lines with TODO must be filled in; `hsct-book validate study.yml` lists what is still missing.",
        "# Reference of every key: docs/study_file.md.",
    ]
    return "\n".join(header + lines) + "\n"


def todo_lines(path: str | Path) -> list[str]:
    """Every line of a study file that still holds ``TODO``, as "file, line N: text" (what is left to fill in)."""
    path = Path(path)
    return [
        f"{path.name}, line {n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "TODO" in line and not line.lstrip().startswith("#")
    ]


def write_draft(cohort_path: str | Path, directory: str | Path, sheet: str | None = None) -> tuple[Path, Draft]:
    """Write ``directory/study.yml`` drafted from ``cohort_path`` (``sheet``: as :func:`draft_study`); refuses to
    overwrite an existing file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "study.yml"
    if target.exists():
        raise FileExistsError(f"{target} exists; move it away or choose another folder")
    draft = draft_study(cohort_path, directory, sheet)
    target.write_text(draft.text, encoding="utf-8")
    return target, draft


__all__ = [
    "Draft",
    "Pair",
    "draft_study",
    "find_pairs",
    "read_table",
    "todo_lines",
    "write_draft",
    "MAX_LEVELS",
]
