"""The cohort contract: dictionary, validation messages and derived endpoints.

tests/data/tiny_cohort.csv holds 8 hand-made patients (line = patient number + 1):
P01 relapse day 200 then death day 350; P02 death day 120 without relapse; P03 alive and
censored at 1500 with aGVHD 2-4, cGVHD and extensive cGVHD; P04 aGVHD 2-4 (20) and 3-4 (30)
then death from GVHD at 90; P05 death at day 10 before engraftment; P06 relapse at 400, alive
at 800; P07 alive, censored at 33 before platelet engraftment (MRD-only first relapse); P08
chronic GVHD on its day of death (600). ptld_days is absent and tma_days entirely empty.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsct_analysis import cohort
from hsct_analysis.cohort import CohortError, Problem

DATA = Path(__file__).parent / "data"
MALFORMED = DATA / "malformed"
REPO = Path(__file__).parents[1]

# ------------------------------------------------------------------ dictionary ----------

CONTRACT_REQUIRED = (
    "patient_id sex age_first_hsct age_second_hsct fusion_gene first_hsct_donor mrd_before_first_hsct "
    "status_before_first_hsct abo_first conditioning_first graft_first relapse_site days_first_hsct_to_relapse "
    "days_first_to_second_hsct cart_source cart_target crs_after_cart crs_grade icans_grade days_cart_to_second_hsct "
    "hct_ci mrd_before_second_hsct donor_second abo_second conditioning_second intensified_conditioning graft_second "
    "gvhd_prophylaxis atg_type mnc_dose cd34_dose cd3_dose followup_days dead cause_of_death relapse_days "
    "neutrophil_engraftment_days platelet_engraftment_days agvhd_2_4_days agvhd_3_4_days cgvhd_days "
    "cgvhd_extensive_days cmv_days ebv_days ptld_days tma_days"
).split()


def test_dictionary_lists_the_contract_columns_in_order():
    assert cohort.REQUIRED_COLUMNS == tuple(CONTRACT_REQUIRED)
    assert len(cohort.REQUIRED_COLUMNS) == 46
    assert len(cohort.OPTIONAL_COLUMNS) == 12
    assert "days_second_hsct_to_dli" in cohort.OPTIONAL_COLUMNS
    assert "gvhd_after_cart" in cohort.OPTIONAL_COLUMNS


def test_dictionary_rows_are_complete():
    d = cohort.read_dictionary()
    assert list(d.columns) == ["name", "required", "type", "unit", "allowed", "if_empty", "meaning", "endpoint"]
    assert set(d["required"]) == {"yes", "no", "derived"}
    assert set(d["type"]) == {"string", "category", "integer", "number"}
    assert d["name"].is_unique
    assert (d["meaning"].str.len() > 10).all() and (d["endpoint"] != "").all()
    assert set(d.loc[d["unit"] == "days", "type"]) == {"integer"}


def test_endpoints_map_names_to_days_columns_of_the_dictionary():
    assert len(cohort.ENDPOINT_DAY_COLUMNS) == 10
    assert cohort.ENDPOINT_DAY_COLUMNS["agvhd_3_4"] == "agvhd_3_4_days"
    assert set(cohort.ENDPOINT_DAY_COLUMNS.values()) <= set(cohort.REQUIRED_COLUMNS)
    derived = {f"{n}_{s}" for n in cohort.ENDPOINT_DAY_COLUMNS for s in ("time", "status")}
    assert derived <= set(cohort.DERIVED_COLUMNS)


def test_loaded_columns_are_exactly_the_dictionary_columns(tiny_path):
    df = cohort.load_cohort(tiny_path)
    assert list(df.columns) == list(cohort.CONTRACT_COLUMNS + cohort.DERIVED_COLUMNS)


# ------------------------------------------------------------------ loading & types -----


def test_types_of_a_loaded_cohort(tiny_path):
    df = cohort.load_cohort(tiny_path)
    assert len(df) == 8
    assert df["followup_days"].dtype == "Int64" and df["crs_grade"].dtype == "Int64"
    assert df["age_second_hsct"].dtype == float and df["age_second_hsct"].iloc[1] == pytest.approx(9.2)
    assert list(df["sex"].cat.categories) == ["male", "female"]
    assert df["patient_id"].tolist() == [f"P0{i}" for i in range(1, 9)]
    assert df["crs_grade"].isna().sum() == 2  # P05 unknown, P06 undetermined
    assert df["days_first_hsct_to_relapse"].isna().sum() == 1  # P07 MRD-only


def test_attrs_source_and_unavailable_endpoints(tiny_path):
    df = cohort.load_cohort(tiny_path)
    assert df.attrs["source"] == str(tiny_path)
    # ptld_days column absent, tma_days column entirely empty
    assert df.attrs["unavailable_endpoints"] == ["ptld", "tma"]
    assert df["ptld_time"].isna().all() and df["tma_status"].isna().all()
    assert df["ptld_days"].isna().all() and df["ptld_days"].dtype == "Int64"


def test_absent_optional_columns_are_added_empty_and_extra_columns_dropped(tiny_path):
    df = cohort.load_cohort(tiny_path)
    assert df["days_diagnosis_to_first_hsct"].isna().all()
    assert df["gvhd_after_cart"].isna().all()
    assert df["n_cart_infusions"].tolist()[:2] == [1, 1] and pd.isna(df["n_cart_infusions"].iloc[6])
    assert "notes" not in df.columns


def test_bom_at_start_is_accepted(tiny_path):
    df = cohort.load_cohort(DATA / "bom_cohort.csv")
    assert df["patient_id"].iloc[0] == "P01"
    assert df["followup_days"].sum() == cohort.load_cohort(tiny_path)["followup_days"].sum() == 3503


def test_load_cohort_frame_equals_load_cohort(tiny_path):
    from_file = cohort.load_cohort(tiny_path)
    from_frame = cohort.load_cohort_frame(pd.read_csv(tiny_path))
    pd.testing.assert_frame_equal(from_file, from_frame)
    assert from_frame.attrs["source"] == "<frame>"


def test_load_cohort_frame_accepts_a_loaded_cohort_again(tiny_path):
    once = cohort.load_cohort(tiny_path)
    twice = cohort.load_cohort_frame(once, source="again")
    assert twice["lfs_time"].tolist() == once["lfs_time"].tolist()
    assert twice.attrs["unavailable_endpoints"] == ["ptld", "tma"]


def test_load_cohort_frame_reports_fractional_days_with_row_line(tiny_path):
    df = pd.read_csv(tiny_path)
    df.loc[2, "cmv_days"] = 40.5
    with pytest.raises(CohortError) as err:
        cohort.load_cohort_frame(df, source="synthetic")
    assert str(err.value.problems[0]) == (
        "synthetic, line 4 (patient P03), column cmv_days: 40.5 is not days: use whole days"
    )


# ------------------------------------------------------------------ derived endpoints ---


def _derived(tiny_path, prefix):
    df = cohort.load_cohort(tiny_path).set_index("patient_id")
    return df[f"{prefix}_time"].tolist(), df[f"{prefix}_{'event' if prefix in ('os', 'lfs') else 'status'}"].tolist()


@pytest.mark.parametrize(
    "prefix, times, codes",
    [
        pytest.param("os", [350, 120, 1500, 90, 10, 800, 33, 600], [1, 1, 0, 1, 1, 0, 0, 1], id="overall_survival"),
        # P01 relapse 200 then death: LFS time = 200; P06 relapse 400 alive at 800: 400
        pytest.param(
            "lfs", [200, 120, 1500, 90, 10, 400, 33, 600], [1, 1, 0, 1, 1, 1, 0, 1], id="lfs_stops_at_relapse"
        ),
        # relapse then death counts as relapse (1); death without relapse is NRM (2)
        pytest.param("relapse_nrm", [200, 120, 1500, 90, 10, 400, 33, 600], [1, 2, 0, 2, 2, 1, 0, 2], id="relapse_nrm"),
        pytest.param(
            "neutrophil_engraftment",
            [12, 14, 11, 13, 10, 15, 9, 16],
            [1, 1, 1, 1, 2, 1, 1, 1],
            id="death_before_neutrophil_engraftment_competes",
        ),
        pytest.param(
            "platelet_engraftment",
            [15, 20, 13, 18, 10, 40, 33, 22],
            [1, 1, 1, 1, 2, 1, 0, 1],
            id="platelets_censored_before_event",
        ),
        pytest.param("agvhd_2_4", [350, 120, 25, 20, 10, 800, 33, 600], [2, 2, 1, 1, 2, 0, 0, 2], id="agvhd_2_4"),
        pytest.param("agvhd_3_4", [350, 120, 1500, 30, 10, 800, 33, 600], [2, 2, 0, 1, 2, 0, 0, 2], id="agvhd_3_4"),
    ],
)
def test_derived_endpoint(tiny_path, prefix, times, codes):
    assert _derived(tiny_path, prefix) == (times, codes)


def test_chronic_gvhd_on_day_of_death_counts_as_event(tiny_path):
    assert _derived(tiny_path, "cgvhd") == ([350, 120, 200, 90, 10, 300, 33, 600], [2, 2, 1, 2, 2, 1, 0, 1])
    assert _derived(tiny_path, "cgvhd_extensive") == ([350, 120, 250, 90, 10, 800, 33, 600], [2, 2, 1, 2, 2, 0, 0, 2])


def test_viral_endpoints(tiny_path):
    assert _derived(tiny_path, "cmv") == ([350, 30, 40, 90, 10, 35, 33, 600], [2, 1, 1, 2, 2, 1, 0, 2])
    assert _derived(tiny_path, "ebv") == ([350, 120, 60, 90, 10, 800, 33, 600], [2, 2, 1, 2, 2, 0, 0, 2])


def test_derived_columns_are_integer_arrays(tiny_path):
    df = cohort.load_cohort(tiny_path)
    assert df["relapse_nrm_status"].to_numpy().dtype == np.int64
    assert df["lfs_time"].to_numpy(float).sum() == 2953.0


# ------------------------------------------------------------------ malformed input -----
# Each case: edits of the tiny cohort, then the exact problems expected
# as (line, patient_id, column, phrase of the rule). Nothing else may be reported.

CASES = {
    "missing required column": (
        dict(drop=["hct_ci"]),
        [(1, None, "hct_ci", "required column is missing")],
    ),
    "near-miss column name Sex": (
        dict(rename={"sex": "Sex"}),
        [(1, None, "sex", 'required column is missing (found "Sex": rename it to sex)')],
    ),
    "near-miss column name followup days": (
        dict(rename={"followup_days": "followup days"}),
        [(1, None, "followup_days", 'found "followup days"')],
    ),
    "near-miss optional column": (
        dict(add={"gvhd after cart": "no"}),
        [(1, None, "gvhd after cart", 'did you mean "gvhd_after_cart"?')],
    ),
    "unknown category": (
        dict(edits={"P02": {"sex": "Female"}}),
        [(3, "P02", "sex", 'is not one of male|female (did you mean "female"?)')],
    ),
    "unknown category with no near match": (
        dict(edits={"P06": {"donor_second": "cousin"}}),
        [(7, "P06", "donor_second", "is not one of MSD|MUD|haplo")],
    ),
    "non-numeric day": (
        dict(edits={"P03": {"cmv_days": "NA"}}),
        [(4, "P03", "cmv_days", "is not a number (whole days expected; leave the cell empty")],
    ),
    "negative day": (
        dict(edits={"P04": {"cgvhd_days": "-5"}}),
        [(5, "P04", "cgvhd_days", "is negative")],
    ),
    "fractional day": (
        dict(edits={"P06": {"relapse_days": "12.5"}}),
        [(7, "P06", "relapse_days", "use whole days")],
    ),
    "event after last follow-up": (
        dict(edits={"P06": {"relapse_days": "900"}}),
        [(7, "P06", "relapse_days", "is after last follow-up (followup_days 800)")],
    ),
    "relapse after death": (
        dict(edits={"P01": {"relapse_days": "400"}}),
        [(2, "P01", "relapse_days", "is after death (followup_days 350)")],
    ),
    "GVHD after death": (
        dict(edits={"P04": {"cgvhd_days": "100"}}),
        [(5, "P04", "cgvhd_days", "is after death (followup_days 90)")],
    ),
    "dead with empty followup_days": (
        dict(edits={"P02": {"followup_days": ""}}),
        [(3, "P02", "followup_days", "is empty, but dead is 1: give the day of death")],
    ),
    "dead not 0/1": (
        dict(edits={"P03": {"dead": "2"}}),
        [(4, "P03", "dead", "is not one of 0|1")],
    ),
    "cause of death while alive": (
        dict(edits={"P03": {"cause_of_death": "GVHD"}}),
        [(4, "P03", "cause_of_death", "is given, but dead is 0")],
    ),
    "cause of death missing while dead": (
        dict(edits={"P04": {"cause_of_death": ""}}),
        [(5, "P04", "cause_of_death", "is empty, but dead is 1")],
    ),
    "cause of death relapse without relapse day": (
        dict(edits={"P02": {"cause_of_death": "relapse"}}),
        [(3, "P02", "cause_of_death", "relapse_days is empty")],
    ),
    "duplicate patient_id": (
        dict(edits={"P05": {"patient_id": "P04"}}),
        [(6, "P04", "patient_id", "is a duplicate patient_id (first on line 5)")],
    ),
    "empty patient_id": (
        dict(edits={"P06": {"patient_id": ""}}),
        [(7, None, "patient_id", "is empty, but a value is required")],
    ),
    "age out of range": (
        dict(edits={"P01": {"age_second_hsct": "120"}}),
        [(2, "P01", "age_second_hsct", "is outside 0-100")],
    ),
    "second age below first": (
        dict(edits={"P02": {"age_second_hsct": "7.5"}}),
        [(3, "P02", "age_second_hsct", "is below age_first_hsct (8)")],
    ),
    "aGVHD 3-4 without 2-4": (
        dict(edits={"P04": {"agvhd_2_4_days": ""}}),
        [(5, "P04", "agvhd_3_4_days", "is given without agvhd_2_4_days")],
    ),
    "aGVHD 3-4 before 2-4": (
        dict(edits={"P04": {"agvhd_2_4_days": "35"}}),
        [(5, "P04", "agvhd_3_4_days", "is earlier than agvhd_2_4_days (35)")],
    ),
    "extensive cGVHD without cGVHD": (
        dict(edits={"P03": {"cgvhd_days": ""}}),
        [(4, "P03", "cgvhd_extensive_days", "is given without cgvhd_days")],
    ),
    "CRS grade with no CRS": (
        dict(edits={"P02": {"crs_grade": "2"}}),
        [(3, "P02", "crs_grade", "must be 0 when crs_after_cart is no")],
    ),
    "CRS grade 0 with CRS": (
        dict(edits={"P01": {"crs_grade": "0"}}),
        [(2, "P01", "crs_grade", "is 0, but crs_after_cart is yes")],
    ),
    "CRS grade with unknown CRS": (
        dict(edits={"P05": {"crs_grade": "1"}}),
        [(6, "P05", "crs_grade", "is given, but crs_after_cart is unknown")],
    ),
    "HCT-CI out of range": (
        dict(edits={"P08": {"hct_ci": "5"}}),
        [(9, "P08", "hct_ci", "is outside 0-4")],
    ),
    "HCT-CI not whole": (
        dict(edits={"P08": {"hct_ci": "1.5"}}),
        [(9, "P08", "hct_ci", "is not a whole number")],
    ),
    "MRD-only relapse with relapse day": (
        dict(edits={"P07": {"days_first_hsct_to_relapse": "100"}}),
        [(8, "P07", "days_first_hsct_to_relapse", "is given, but relapse_site is MRD-only")],
    ),
    "overt relapse without relapse day": (
        dict(edits={"P01": {"days_first_hsct_to_relapse": ""}}),
        [(2, "P01", "days_first_hsct_to_relapse", "is empty, but relapse_site is BM")],
    ),
    "first relapse after second HSCT": (
        dict(edits={"P01": {"days_first_hsct_to_relapse": "500"}}),
        [(2, "P01", "days_first_hsct_to_relapse", "is longer than days_first_to_second_hsct (400)")],
    ),
    "empty required category": (
        dict(edits={"P03": {"donor_second": ""}}),
        [(4, "P03", "donor_second", "is empty, but a value is required")],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_malformed_cohort_reports_exact_problem(case, write_tiny):
    changes, expected = CASES[case]
    path = write_tiny(**changes)
    problems = cohort.validate(path)
    found = [(p.line, p.patient_id, p.column) for p in problems]
    assert found == [(line, pid, col) for line, pid, col, _ in expected]
    with pytest.raises(CohortError) as err:
        cohort.load_cohort(path)
    message = str(err.value)
    for (line, pid, col, phrase), problem in zip(expected, err.value.problems):
        assert phrase in problem.rule
        assert f"column {col}: " in message and phrase in message
        assert (f"(patient {pid})" if pid else f"line {line}") in message


FILE_CASES = {
    "empty.csv": (None, "file is empty (0 bytes)"),
    "header_only.csv": (None, "file has a header but no patient rows"),
    "semicolons.csv": (1, "separated by semicolons (;), not commas: use commas"),
    "tabs.csv": (1, "separated by tabs, not commas: use commas"),
    "latin1.csv": (9, "byte 0xe9 at byte 219 of the line is not valid UTF-8"),
    "duplicate_header.csv": (1, "column name appears 2 times in the header (positions 2, 47)"),
    "ragged_row.csv": (4, "row has 45 values but the header has 47 columns"),
}


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_malformed_file_reports_one_problem(name):
    line, phrase = FILE_CASES[name]
    problems = cohort.validate(MALFORMED / name)
    assert len(problems) == 1
    assert problems[0].line == line and phrase in problems[0].rule
    with pytest.raises(CohortError) as err:
        cohort.load_cohort(MALFORMED / name)
    assert str(MALFORMED / name) in str(err.value) and phrase in str(err.value)


def test_every_problem_of_a_multi_problem_file_is_listed(write_tiny):
    path = write_tiny(
        edits={
            "P01": {"sex": "M", "relapse_days": "400"},
            "P03": {"cause_of_death": "GVHD", "cmv_days": "4o"},
            "P08": {"hct_ci": "7"},
        },
        drop=["atg_type"],
    )
    with pytest.raises(CohortError) as err:
        cohort.load_cohort(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"6 problem(s) in cohort {path}:"
    assert len(lines) == 7 and len(err.value.problems) == 6
    assert {(p.patient_id, p.column) for p in err.value.problems} == {
        (None, "atg_type"),
        ("P01", "sex"),
        ("P01", "relapse_days"),
        ("P03", "cause_of_death"),
        ("P03", "cmv_days"),
        ("P08", "hct_ci"),
    }


def test_valid_cohort_has_no_problems_and_unrelated_extra_columns_are_silent(tiny_path, write_tiny):
    assert cohort.validate(tiny_path) == []  # has an extra "notes" column
    both = write_tiny(add={"Sex": "male", "remarks": "x"})  # near-miss of a column that is present
    assert cohort.validate(both) == []


def test_problem_reads_as_one_line():
    p = Problem("data/x.csv", 7, "P007", "relapse_days", "is after last follow-up (followup_days 1500)", "2100")
    assert str(p) == (
        "data/x.csv, line 7 (patient P007), column relapse_days: 2100 is after last follow-up (followup_days 1500)"
    )


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02\xff\xfe garbage", b"\n\n\n", b'"unclosed,quote\n1,2', b"patient_id\nP1\n", b"a,b\n1,2,3\n"],
)
def test_garbage_never_raises_a_traceback(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    problems = cohort.validate(path)
    assert len(problems) >= 1 and all(isinstance(p, Problem) for p in problems)
    with pytest.raises(CohortError):
        cohort.load_cohort(path)


def test_missing_file_and_directory_are_problems(tmp_path):
    assert cohort.validate(tmp_path / "nope.csv")[0].rule == "file not found (or not a file)"
    assert cohort.validate(tmp_path)[0].rule == "is a directory, not a file"


def test_endpoint_column_absent_is_unavailable_not_an_error(write_tiny):
    path = write_tiny(drop=["cmv_days", "agvhd_2_4_days"])
    assert cohort.validate(path) == []
    df = cohort.load_cohort(path)
    assert df.attrs["unavailable_endpoints"] == ["agvhd_2_4", "cmv", "ptld", "tma"]
    assert df["agvhd_3_4_status"].tolist() == [2, 2, 0, 1, 2, 0, 0, 2]


# ------------------------------------------------------------------ template & speed ----


def test_write_template(tmp_path):
    template, dictionary = cohort.write_template(tmp_path / "new")
    assert template.read_text(encoding="utf-8").splitlines() == [",".join(cohort.CONTRACT_COLUMNS)]
    assert len(template.read_text().split(",")) == 58  # 46 required + 12 optional
    assert filecmp.cmp(dictionary, cohort.dictionary_path(), shallow=False)
    problems = cohort.validate(template)
    assert [p.rule for p in problems] == ["file has a header but no patient rows"]


def _big_cohort(n_copies: int) -> pd.DataFrame:
    tiny = pd.read_csv(DATA / "tiny_cohort.csv", dtype=str, keep_default_na=False)
    big = pd.concat([tiny] * n_copies, ignore_index=True)
    big["patient_id"] = [f"S{i:05d}" for i in range(len(big))]
    return big


def test_2000_rows_load_with_their_events(tmp_path):
    path = tmp_path / "big.csv"
    _big_cohort(250).to_csv(path, index=False)
    df = cohort.load_cohort(path)
    assert len(df) == 2000 and df["os_event"].sum() == 250 * 5


def test_2000_bad_rows_are_all_reported(tmp_path):
    big = _big_cohort(250)
    big["sex"] = "unknown"
    path = tmp_path / "big_bad.csv"
    big.to_csv(path, index=False)
    problems = cohort.validate(path)
    assert len(problems) == 2000 and problems[-1].line == 2001


def test_a_curve_that_reached_everyone_stays_final_after_its_last_time():
    """Every patient of the bundled cohort engrafts neutrophils by day 26: at 30 and 60 days the incidence is
    100% (nobody is left whose outcome could change it), not missing; an unfinished curve stays missing."""
    from hsct_analysis.cohort import endpoints, load_cohort

    cohort = load_cohort(Path(__file__).resolve().parents[1] / "data" / "cohort.csv")
    est = endpoints.estimates_at(cohort, ["neutrophil_engraftment", "os"], [30, 60, 1e6])
    neutro = est[est["endpoint"] == "neutrophil_engraftment"]
    assert np.allclose(neutro["estimate"], 100.0)
    assert est.loc[est["endpoint"] == "os", "estimate"].isna().tolist() == [False, False, True]
