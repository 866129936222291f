"""Baseline characteristics at first and second HSCT: the rows of the paper's Tables 1 and 2.

The row specs list each variable with its levels in the paper's order, so that the table
regenerated from a cohort lines up with the published one. Ages are in years, intervals in
days, cell doses per kg of recipient weight.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from hsct_analysis.book import privacy, tables
from hsct_analysis.book.tables import categorical, continuous
from hsct_analysis.cohort import contract as cohort_contract
from hsct_analysis.cohort import enrolment

FUSION_GENES = (
    "BCR::ABL1",
    "E2A::HLF",
    "E2A::PBX1",
    "EBF1::PDGFRB",
    "EP300::ZNF384",
    "IGH::EPOP/MILT3::CISD3",
    "MLL::AF4",
    "NUP214::ABL1",
    "PICALM::MLLT10",
    "TAF15::ZNF384",
    "TEL::AML1",
    "TERP2::JAK2",
    "negative",
)

TABLE1_ROWS = [
    continuous("age_first_hsct", "Age at first HSCT", unit="years"),
    categorical("sex", "Sex", ["male", "female"]),
    categorical("fusion_gene", "Fusion gene at diagnosis", FUSION_GENES),
    categorical(
        "first_hsct_donor",
        "First HSCT type",
        ["MSD", "MUD", "haplo", "auto", "cord"],
        {
            "MSD": "Matched sibling donor",
            "MUD": "Matched unrelated donor",
            "haplo": "Haploidentical donor",
            "auto": "Autologous",
            "cord": "Cord blood",
        },
    ),
    categorical("mrd_before_first_hsct", "MRD before first HSCT", ["negative", "positive", "unknown"]),
    categorical("status_before_first_hsct", "Disease status before first HSCT", ["CR1", "CR2", "CR3", "NR"]),
    categorical(
        "abo_first", "ABO compatibility (first HSCT)", ["matched", "major", "minor", "bidirectional", "unknown"]
    ),
    categorical(
        "conditioning_first",
        "Conditioning of first HSCT",
        ["Bu", "TBI", "Mel", "unknown"],
        {"Bu": "Bu-based", "TBI": "TBI-based", "Mel": "Mel-based"},
    ),
    categorical("graft_first", "Stem-cell source (first HSCT)", ["BM+PB", "PB", "cord", "unknown"]),
    categorical("relapse_site", "Site of relapse after first HSCT", ["BM", "BM+EM", "EM", "MRD-only"]),
]

TABLE2_ROWS = [
    continuous("age_second_hsct", "Age at second HSCT", unit="years"),
    categorical("hct_ci", "HCT-CI before second HSCT", [0, 1, 2, 3, 4]),
    categorical(
        "donor_second",
        "Second HSCT donor",
        ["MSD", "MUD", "haplo"],
        {"MSD": "Matched sibling donor", "MUD": "Matched unrelated donor", "haplo": "Haploidentical"},
    ),
    categorical("cart_source", "CAR-T cell source", ["autologous", "allogeneic", "unknown"]),
    categorical("cart_target", "CAR-T target", ["CD19", "CD22", "CD19+CD22", "CD19+CD20"]),
    categorical("mrd_before_second_hsct", "MRD before second HSCT", ["negative", "positive"]),
    categorical("abo_second", "ABO compatibility (second HSCT)", ["matched", "major", "minor", "bidirectional"]),
    categorical(
        "conditioning_second",
        "Conditioning of second HSCT",
        ["Bu", "TBI", "Mel"],
        {"Bu": "Bu-based", "TBI": "TBI-based", "Mel": "Mel-based"},
    ),
    categorical(
        "conditioning_sequence",
        "Conditioning, first to second HSCT",
        ["Bu-Mel", "Bu-TBI", "Mel-TBI", "TBI-Bu", "TBI-TBI", "unknown"],
    ),
    categorical("graft_second", "Stem-cell source (second HSCT)", ["BM+PB", "PB"]),
    categorical("gvhd_prophylaxis", "GVHD prophylaxis", ["CsA+MMF+MTX", "FK506+MMF+MTX"]),
    categorical("atg_type", "ATG", ["ATG-T", "ATG-F", "ATG-P"]),
    continuous("mnc_dose", "Infused MNC", unit="x10^8/kg"),
    continuous("cd34_dose", "Infused CD34+ cells", unit="x10^6/kg"),
    continuous("cd3_dose", "Infused CD3+ cells", unit="x10^8/kg"),
]

TIMELINE = [
    ("days_diagnosis_to_first_hsct", "Diagnosis to first HSCT"),
    ("days_first_hsct_to_mrd_positive", "First HSCT to MRD positivity"),
    ("days_first_hsct_to_relapse", "First HSCT to relapse"),
    ("days_relapse_to_cart", "Relapse or MRD positivity to last CAR-T"),
    ("days_cart_to_second_hsct", "Last CAR-T to second HSCT"),
    ("days_first_to_second_hsct", "First to second HSCT"),
    ("days_diagnosis_to_second_hsct", "Diagnosis to second HSCT"),
]


def with_derived(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort plus ``conditioning_sequence`` (e.g. "Bu-TBI"; "unknown" when the first is unknown)."""
    first = cohort["conditioning_first"].astype(str)
    sequence = first + "-" + cohort["conditioning_second"].astype(str)
    return cohort.assign(conditioning_sequence=sequence.where(first != "unknown", "unknown"))


def _paper_cells(card: pd.DataFrame, prefix: str) -> dict[tuple[str, str], tuple[str, bool]]:
    """(variable, category) -> (printed "n (%)", count reproduced exactly) from scorecard count rows."""
    rows = card[card["id"].str.startswith(prefix) & (card["kind"] == "count")]
    return {(r.variable, str(r.category)): (str(r.printed), bool(r.passed)) for r in rows.itertuples()}


def _paper_continuous(card: pd.DataFrame, prefix: str) -> dict[str, str]:
    rows = card[card["id"].str.startswith(prefix) & (card["kind"] == "median")]
    return {r.variable: str(r.printed) for r in rows.itertuples()}


def _with_observed_levels(spec, cohort: pd.DataFrame):
    """A free-text column's row (e.g. fusion genes) lists the paper's levels, then every other value found.

    The validator decides which free-text values are acceptable (``cohort.TEXT_PATTERNS``); the table shows them
    all, so a cohort that validates never fails here.
    """
    if spec.kind != "categorical" or not spec.levels or spec.column not in cohort:
        return spec
    if cohort_contract.COLUMNS.get(spec.column) is None or cohort_contract.COLUMNS[spec.column].type != "string":
        return spec
    extra = sorted(set(cohort[spec.column].dropna().astype(str)) - {str(v) for v in spec.levels})
    return dataclasses.replace(spec, levels=tuple(spec.levels) + tuple(extra)) if extra else spec


def characteristics_table(
    cohort: pd.DataFrame, rows, card: pd.DataFrame | None = None, prefix: str = "", min_cell: int | None = None
) -> pd.DataFrame:
    """Table 1 or 2 regenerated from ``cohort``; with a scorecard, the paper's column and a match mark.

    ``min_cell`` masks counts below it and shows continuous rows as median (IQR) (``tables.characteristics``).
    ``prefix`` selects the scorecard entries of the table ("t1." or "t2."). The "Paper" cell is
    the text as printed; "Count matches" is ✓ when the reproduced count equals the printed one, and empty where
    ``min_cell`` masks the count (a mark beside the printed count would give it back).
    """
    column = None if card is not None else f"This cohort (n={privacy.count_text(len(cohort), min_cell)})"
    rows = [_with_observed_levels(spec, cohort) for spec in rows]
    table = tables.characteristics(with_derived(cohort), rows, column=column, min_cell=min_cell)
    if card is None:
        return table
    cells, medians = _paper_cells(card, prefix), _paper_continuous(card, prefix)
    paper, match = [], []
    label_to_spec = {}
    for spec in rows:
        name = (
            f"{spec.label} ({spec.unit})"
            if spec.kind == "continuous" and spec.unit
            else (spec.label if spec.kind == "continuous" else f"{spec.label}, n (%)")
        )
        label_to_spec[name] = spec
    ours = table.iloc[:, 0].astype(str)
    for (characteristic, level), shown in zip(table.index, ours):
        spec = label_to_spec[characteristic]
        if spec.kind == "continuous":
            paper.append(medians.get(spec.column, ""))
            match.append("")
            continue
        raw = next((k for k in spec.levels if str(spec.level_labels.get(k, k)) == level), level)
        printed, ok = cells.get((spec.column, str(raw)), ("", None))
        paper.append(printed)
        masked = privacy.masking(min_cell) and (shown.startswith("<") or shown.startswith(privacy.COMPLEMENTARY))
        match.append("" if ok is None or masked else ("✓" if ok else "✗"))
    return table.assign(**{"Paper (Cao et al. 2023)": paper, "Count matches": match})


def timeline_table(cohort: pd.DataFrame, intervals=TIMELINE, min_cell: int | None = None) -> pd.DataFrame:
    """Median (range) in days of each pre-transplant interval, over the patients for whom it is defined.

    With ``min_cell`` (the book's small-cell option) the column is "Median (IQR), days" (a range's
    ends are single patients' values), a patient count below ``min_cell`` reads ``"<min_cell"``
    and an interval known for fewer than ``min_cell`` patients is not summarised.
    """
    spread = tables.spread_label(min_cell).replace("median", "Median")
    rows = []
    for column, label in intervals:
        values = pd.to_numeric(cohort[column], errors="coerce") if column in cohort else pd.Series(dtype=float)
        n = int(values.notna().sum())
        rows.append(
            {
                "Interval": label,
                "Patients": tables.min_cell_mask(n, min_cell) if min_cell else n,
                f"{spread}, days": tables.format_median_spread(values, digits=0, min_cell=min_cell),
            }
        )
    return pd.DataFrame(rows).set_index("Interval")


#: What chapter 1 says where no screening log lies beside the cohort file.
NO_SCREENING_LOG = (
    "No screening log (`screening.csv`) lies beside this cohort file, so the book cannot say how many patients were "
    "screened, nor why some were not enrolled."
)


def enrolment_table(flow, min_cell: int | None = None) -> pd.DataFrame:
    """The flow from screening to analysis (:class:`~hsct_analysis.cohort.enrolment.EnrolmentFlow`): patients
    screened, excluded by reason, enrolled and analysed, with their share of the screened patients.

    With ``min_cell`` the privacy rules (:mod:`.privacy`) apply to the exclusion reasons as one line. Its total,
    the patients excluded, is screened less enrolled, and the enrolled count is the cohort's size, which every
    chapter shows: so where the line cannot hide its small counts with its total shown (rule 3), the screened count
    is hidden, and so are the percentages, which would give it back. A cohort smaller than ``min_cell`` is masked
    like any small count (rule 5) and joins the line."""
    steps = enrolment.flow_table(flow)  # screened, each reason, enrolled
    counts = steps["patients"].tolist()[1:]  # the reasons, then the enrolled patients
    small_cohort = privacy.is_small(flow.enrolled, min_cell)  # rule 5: the cohort's size is masked too, so it is
    line = counts if small_cohort else counts[:-1]  # not known from the other pages, and joins the line
    primary, extra, hide_total = privacy.suppress_line(line, min_cell)
    masked = [
        privacy.primary_text(min_cell) if p else privacy.COMPLEMENTARY if e else None for p, e in zip(primary, extra)
    ]
    masked += [] if small_cohort else [None]

    def cell(count: int, mask: str | None) -> str:
        if mask is not None:
            return mask
        return str(count) if hide_total else f"{count} ({100.0 * count / flow.screened:.1f}%)"

    texts = [privacy.COMPLEMENTARY if hide_total else str(flow.screened)]
    texts += [cell(n, m) for n, m in zip(counts, masked)]
    header = "Patients" if hide_total else "Patients (% of screened)"
    return pd.DataFrame({"Step": steps["step"].to_numpy(), header: texts}).set_index("Step")
