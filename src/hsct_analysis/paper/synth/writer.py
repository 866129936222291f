"""Writing the synthetic cohort: the contract's column order and a byte-reproducible CSV.

:func:`assemble` puts baseline and outcome columns in :data:`COLUMNS` order, :func:`to_csv_text`
renders them (integers as integers, ages and doses with one decimal, ``""`` for missing) and
:func:`write` saves the text with LF line ends, so a fixed seed rewrites the committed file
byte for byte.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Column order of the written CSV (the contract's required columns, then the optional ones).
COLUMNS = [
    "patient_id",
    "sex",
    "age_first_hsct",
    "age_second_hsct",
    "fusion_gene",
    "first_hsct_donor",
    "mrd_before_first_hsct",
    "status_before_first_hsct",
    "abo_first",
    "conditioning_first",
    "graft_first",
    "relapse_site",
    "days_first_hsct_to_relapse",
    "days_first_to_second_hsct",
    "cart_source",
    "cart_target",
    "crs_after_cart",
    "crs_grade",
    "icans_grade",
    "days_cart_to_second_hsct",
    "hct_ci",
    "mrd_before_second_hsct",
    "donor_second",
    "abo_second",
    "conditioning_second",
    "intensified_conditioning",
    "graft_second",
    "gvhd_prophylaxis",
    "atg_type",
    "mnc_dose",
    "cd34_dose",
    "cd3_dose",
    "followup_days",
    "dead",
    "cause_of_death",
    "relapse_days",
    "neutrophil_engraftment_days",
    "platelet_engraftment_days",
    "agvhd_2_4_days",
    "agvhd_3_4_days",
    "cgvhd_days",
    "cgvhd_extensive_days",
    "cmv_days",
    "ebv_days",
    "ptld_days",
    "tma_days",
    "days_diagnosis_to_first_hsct",
    "days_diagnosis_to_second_hsct",
    "days_first_hsct_to_mrd_positive",
    "days_relapse_to_cart",
    "n_cart_infusions",
    "marrow_blasts_before_cart_pct",
    "gvhd_after_cart",
    "days_second_hsct_to_dli",
    "dli_reason",
    "days_second_hsct_to_mrd_positive",
    "mrd_positive_after_second_treatment",
    "gvhd_death_trigger",
]
FLOAT_COLUMNS = {
    "age_first_hsct",
    "age_second_hsct",
    "mnc_dose",
    "cd34_dose",
    "cd3_dose",
    "marrow_blasts_before_cart_pct",
}
OUTCOME_COLUMNS = COLUMNS[COLUMNS.index("followup_days") : COLUMNS.index("tma_days") + 1]
#: Optional columns about treatment after the second HSCT (DLI, MRD positivity, what preceded fatal GVHD).
AFTER_SECOND_COLUMNS = COLUMNS[COLUMNS.index("days_second_hsct_to_dli") :]
EVENT_COLUMNS = [c for c in OUTCOME_COLUMNS if c.endswith("_days") and c != "followup_days"]


def assemble(base: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """The cohort in the contract's column order (outcome rows aligned to patients)."""
    df = base.copy()
    for col in OUTCOME_COLUMNS:
        df[col] = out[col].to_numpy()
    for col in AFTER_SECOND_COLUMNS:
        df[col] = out[col].to_numpy() if col in out else (np.nan if col.startswith("days") else "")
    return df[COLUMNS]


def written_columns(columns=COLUMNS) -> list[str]:
    """The columns a cohort file holds: ``columns`` minus the treatment-after-second-HSCT ones
    (:data:`AFTER_SECOND_COLUMNS`) that the data dictionary does not (yet) define."""
    from hsct_analysis.cohort import CONTRACT_COLUMNS

    return [c for c in columns if c not in AFTER_SECOND_COLUMNS or c in CONTRACT_COLUMNS]


def to_csv_text(cohort: pd.DataFrame) -> str:
    """The cohort as CSV text: fixed column order, integers as integers, 1-decimal floats, '' for missing."""
    cohort = cohort[written_columns(list(cohort.columns))]
    cols = {}
    for col in cohort.columns:
        s = cohort[col]
        if col in FLOAT_COLUMNS:
            cols[col] = s.map(lambda v: "" if pd.isna(v) else f"{float(v):.1f}")
        elif pd.api.types.is_numeric_dtype(s):
            cols[col] = s.map(lambda v: "" if pd.isna(v) else str(int(round(float(v)))))
        else:
            cols[col] = s.map(lambda v: "" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v))
    return pd.DataFrame(cols)[list(cohort.columns)].to_csv(index=False, lineterminator="\n")


def write(cohort: pd.DataFrame, path: str) -> None:
    """Write ``cohort`` to ``path`` byte-reproducibly (UTF-8, LF line ends)."""
    write_text(to_csv_text(cohort), path)


def screening_log_text(enrolled_ids, screened: int, excluded: dict[str, int]) -> str:
    """The screening log of a synthetic cohort (:mod:`hsct_analysis.cohort.enrolment`) as CSV text: the enrolled
    patients (``enrolled_ids``, no reason), then the excluded ones, numbered on from the last enrolled patient
    (``SYN0096``...), ``excluded`` reason -> patients. ``screened`` must equal the two together."""
    from hsct_analysis.cohort.enrolment import ID_COLUMN, REASON_COLUMN

    enrolled_ids = list(enrolled_ids)
    reasons = [reason for reason, n in excluded.items() for _ in range(n)]
    if len(enrolled_ids) + len(reasons) != screened:
        raise ValueError(f"{screened} screened, but {len(enrolled_ids)} enrolled and {len(reasons)} excluded")
    rows = [(pid, "") for pid in enrolled_ids]
    rows += [(f"SYN{len(enrolled_ids) + k + 1:04d}", reason) for k, reason in enumerate(reasons)]
    return pd.DataFrame(rows, columns=[ID_COLUMN, REASON_COLUMN]).to_csv(index=False, lineterminator="\n")


def write_text(text: str, path: str) -> None:
    """Write ``text`` to ``path`` byte-reproducibly (UTF-8, line ends as given)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
