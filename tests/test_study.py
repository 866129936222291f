"""The study file: schema validation (line, key path, what is allowed), the cohort read through it,
and the reference page generated from the schema."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.cohort import study as st

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "data" / "examples"
BMT_STUDY = EXAMPLES / "bmt" / "study.yml"

#: A custom endpoint ``e`` on the columns ``t`` (time) and ``d`` (1 = event) of a small cohort file.
CUSTOM_E = "endpoints:\n  custom:\n    e: {label: E, time: t, event: {column: d, codes: [1]}}\n"


def small_study(tmp_path: Path, csv: str, body: str, *, id_column: str = "id", time_unit: str = "days") -> Path:
    """A study file over the cohort file ``c.csv`` holding ``csv``, both in ``tmp_path``: the
    ``cohort`` section's required keys, then ``body`` (more cohort keys, endpoints, ...)."""
    (tmp_path / "c.csv").write_text(csv)
    path = tmp_path / "study.yml"
    path.write_text(
        f"title: t\ncohort:\n  file: c.csv\n  time_unit: {time_unit}\n  time_zero: day 0\n  id: {id_column}\n" + body
    )
    return path


@pytest.fixture
def bmt_copy(tmp_path):
    """A copy of the bmt example (study file + cohort) that a test may edit."""
    shutil.copy(EXAMPLES / "bmt" / "bmt.csv", tmp_path / "bmt.csv")
    text = BMT_STUDY.read_text()

    def write(*replacements: tuple[str, str], csv_edit=None) -> Path:
        edited = text
        for old, new in replacements:
            assert old in edited, old
            edited = edited.replace(old, new, 1)
        path = tmp_path / "study.yml"
        path.write_text(edited)
        if csv_edit is not None:
            df = pd.read_csv(tmp_path / "bmt.csv", dtype=str)
            csv_edit(df)
            df.to_csv(tmp_path / "bmt.csv", index=False)
        return path

    return write


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("name", ["bmt", "hodg", "alloauto"])
def test_examples_validate(name):
    assert st.validate_study(EXAMPLES / name / "study.yml") == []


def test_problem_names_file_line_key_and_what_is_allowed(bmt_copy):
    path = bmt_copy(
        ("time_unit: days", "time_unit: day"),
        ("{label: death without acute GVHD, column: d1,", "{label: death without acute GVHD, column: deth,"),
    )
    problems = st.validate_study(path)
    assert [str(p) for p in problems] == [
        f"study.yml, line {line_of(path, 'time_unit:')}, cohort.time_unit: 'day' is not one of days, months, years"
        " (did you mean 'days'?)",
        f"study.yml, line {line_of(path, 'deth')}, endpoints.custom.agvhd.competing[0].column: 'deth' is not a "
        "column of bmt.csv",
    ]
    with pytest.raises(st.StudyError, match=r"2 problem\(s\)"):
        st.load_study(path)


def test_unknown_key_suggests_the_near_one(bmt_copy):
    path = bmt_copy(("  km_ci: log", "  km_cI: log"))
    (problem,) = st.validate_study(path)
    assert problem.line == line_of(path, "km_cI")
    assert problem.path == "estimates.km_cI"
    assert "allowed here: times, unit, conf_level, km_ci, cif_ci (did you mean 'km_ci'?)" in problem.message


def test_missing_required_key_points_at_its_section(bmt_copy):
    path = bmt_copy(("  time_zero: day of the bone-marrow transplant\n", ""))
    (problem,) = st.validate_study(path)
    assert (problem.line, problem.path) == (line_of(path, "cohort:"), "cohort.time_zero")
    assert problem.message.startswith("is missing")


@pytest.mark.parametrize(
    "old, new, path, message",
    [
        (
            "standard: [os, dfs,",
            "standard: [os, grfs, dfs,",
            "endpoints.standard[1]",
            "'grfs' needs cohort.events.agvhd_3_4, cohort.events.cgvhd_extensive: declare them",
        ),
        ("standard: [os, dfs,", "standard: [os, dfs, lfs,", "endpoints.standard[2]", "'lfs' repeats 'dfs'"),
        ("standard: [os, dfs,", "standard: [os, dfss,", "endpoints.standard[1]", "'dfss' is not one of"),
        (
            "      reference: ALL",
            "      reference: all",
            "risk_factors.factors.disease.reference",
            "'all' is not one of the levels: ALL, AML low risk, AML high risk",
        ),
        (
            'labels: ["<=28", ">28"]',
            'labels: ["<=28"]',
            "risk_factors.factors.age.labels",
            "has 1 labels; 1 cut point(s) make 2 groups",
        ),
        ("cuts: [28]", "cuts: [28, 20]", "risk_factors.factors.age.cuts", "must be increasing"),
        (
            "forced: [disease]",
            "forced: [disease, hospital]",
            "risk_factors.multivariable.forced[1]",
            "'hospital' is not a factor",
        ),
        (
            "endpoints: [os, dfs,",
            "endpoints: [os, pfs,",
            "risk_factors.endpoints[1]",
            "'pfs' is not a declared endpoint",
        ),
        ("codes: {1: dead, 0: alive}", "codes: {1: gone, 0: alive}", "cohort.dead.codes", "no code means dead"),
        (
            "codes: {1: relapse, 0: no relapse}",
            "codes: {1: yes please, 0: no relapse}",
            "cohort.events.relapse.codes",
            "no code means the event",
        ),
        ("screening_p: 0.1", "screening_p: 0", "risk_factors.multivariable.screening_p", "0 must be above 0"),
        ("screening_p: 0.1", "screening_p: high", "risk_factors.multivariable.screening_p", "'high' is not a number"),
        ("min_cell: 5", "min_cell: 2.5", "min_cell", "2.5 is not a whole number"),
        (
            "models: [fine_gray, cause_specific]",
            "models: [fine_grey]",
            "risk_factors.multivariable.models[0]",
            "(did you mean 'fine_gray'?)",
        ),
        ("file: bmt.csv", "file: bmt.txt", "cohort.file", "must end in .csv or .xlsx"),
        ("file: bmt.csv", "file: other.csv", "cohort.file", "does not exist"),
        ("  events:\n", "  events:\n    pfs: {days: t2}\n", "cohort.events.pfs", "'pfs' is not one of relapse,"),
        (
            "  events:\n",
            "  events:\n    cmv: {column: d2}\n",
            "cohort.events.cmv",
            "give `days` or `time + column + codes`",
        ),
        ("  times: [1, 2, 3]", "  times: [1, 3, 2]", "estimates.times", "must be increasing"),
        ("  times: [1, 2, 3]", "  times: [1, 2, 3]\n  conf_level: 1", "estimates.conf_level", "1 must be below 1"),
    ],
)
def test_rules(bmt_copy, old, new, path, message):
    problems = st.validate_study(bmt_copy((old, new)))
    assert any(p.path == path and message in p.message for p in problems), [str(p) for p in problems]
    assert all(p.line is not None for p in problems)


def test_missing_top_level_key_has_no_line(tmp_path):
    (tmp_path / "study.yml").write_text("title: t\n")
    assert [str(p) for p in st.validate_study(tmp_path / "study.yml")] == [
        "study.yml, cohort: is missing (the cohort file and the mapping of its columns and codes to roles)",
        "study.yml, endpoints: is missing (the endpoints of the book)",
    ]


def test_yaml_syntax_error_and_duplicate_keys(tmp_path):
    bad = tmp_path / "study.yml"
    bad.write_text("title: x\ncohort:\n  file: a.csv\n   id: 3\n")
    (problem,) = st.validate_study(bad)
    assert problem.line == 4 and "is not valid YAML" in problem.message
    bad.write_text("title: x\ntitle: y\n")
    problems = st.validate_study(bad)
    assert "study.yml, line 2, title: appears twice" in [str(p) for p in problems]
    bad.write_text("")
    assert [str(p) for p in st.validate_study(bad)] == ["study.yml: is empty"]
    assert st.validate_study(tmp_path / "none.yml")[0].message == "file not found"


def test_data_problems_name_line_patient_and_column(bmt_copy):
    def edit(df):
        df.loc[3, "d2"] = "7"
        df.loc[5, "t1"] = "x"
        df.loc[8, "id"] = df.loc[7, "id"]

    path = bmt_copy(csv_edit=edit)
    assert st.validate_study(path) == []  # the study file itself is fine
    with pytest.raises(st.StudyError) as info:
        st.read_cohort(path)
    assert st.check(path) == info.value.problems
    assert st.check(BMT_STUDY) == []
    text = [str(p) for p in info.value.problems]
    assert (
        "bmt.csv, line 5 (patient 4), column d2: '7' is not a code listed in cohort.events.relapse.codes (1, 0)" in text
    )
    assert "bmt.csv, line 7 (patient 6), column t1: 'x' is not a number (follow-up)" in text
    assert "bmt.csv, line 10 (patient 8), column id: '8' repeats an identifier of an earlier row" in text


def test_the_cohort_file_is_read_as_the_data_contract_reads_it(tmp_path):
    """A short row is an error naming its line and patient (pandas filled it with empty cells: a patient with no
    event and no factors); a line is the file's line, past blank lines and line breaks inside quotes; a file that is
    not UTF-8 says how to save it as UTF-8."""
    csv = 'id,t,d,note\n1,10,1,a\n\n2,20,0,"two\nlines"\n3,30\n4,x,0,b\n'
    path = small_study(tmp_path, csv, CUSTOM_E)
    with pytest.raises(st.StudyError) as info:
        st.read_cohort(path)
    assert [str(p) for p in info.value.problems] == [
        "c.csv, line 6 (patient 3): row has 2 values but the header has 4 columns"
    ]
    (tmp_path / "c.csv").write_text('id,t,d,note\n1,10,1,a\n\n2,20,0,"two\nlines"\n4,x,0,b\n')
    with pytest.raises(st.StudyError) as info:
        st.read_cohort(path)
    assert [str(p) for p in info.value.problems] == [
        "c.csv, line 6 (patient 4), column t: 'x' is not a number (time of E)"
    ]
    (tmp_path / "c.csv").write_bytes("id,t,d,note\n1,10,1,caf\u00e9\n".encode("latin-1"))
    (problem,) = st.check(path)
    assert "c.csv, line 2:" in str(problem) and "save it as UTF-8" in str(problem)


def test_not_applicable_values_and_days_form(tmp_path):
    """An event given as its day; 'n/a' declared not applicable means it did not happen."""
    path = small_study(
        tmp_path,
        "pid,fu,vital,rel\na,100,1,50\nb,200,0,n/a\nc,300,1,\nd,400,0,n/a\n",
        "  followup: fu\n  not_applicable: ['', n/a]\n  dead: {column: vital, codes: {1: dead, 0: alive}}\n"
        "  events:\n    relapse: {days: rel}\nendpoints:\n  standard: [lfs, relapse, nrm]\n",
        id_column="pid",
    )
    cohort = st.read_cohort(path)
    np.testing.assert_array_equal(cohort.endpoints["lfs"].time, [50, 200, 300, 400])
    np.testing.assert_array_equal(cohort.endpoints["relapse"].status, [1, 0, 2, 0])
    (tmp_path / "c.csv").write_text("pid,fu,vital,rel\na,100,1,150\n")
    with pytest.raises(st.StudyError, match=r"line 2 \(patient a\), column rel: '150' is after the end of follow-up"):
        st.read_cohort(path)


def test_one_status_column_coded_as_in_the_issue(tmp_path):
    """`status: {0: censored, 1: relapse, 2: death in remission}` gives the relapse role (code 1)."""
    path = small_study(
        tmp_path,
        "id,t,status,fu,dead\n1,10,1,40,1\n2,20,2,20,1\n3,30,0,30,0\n4,25,1,50,0\n",
        "  followup: fu\n  dead: {column: dead, codes: {1: dead, 0: alive}}\n  events:\n    relapse:\n      time: t\n"
        "      column: status\n      codes: {0: censored, 1: relapse, 2: death in remission}\n"
        "endpoints:\n  standard: [os, lfs, relapse, nrm]\n",
    )
    cohort = st.read_cohort(path)
    assert cohort.study.events["relapse"].event_codes == ("1",)
    np.testing.assert_array_equal(cohort.endpoints["relapse"].time, [10, 20, 30, 25])
    np.testing.assert_array_equal(cohort.endpoints["relapse"].status, [1, 2, 0, 1])
    np.testing.assert_array_equal(cohort.endpoints["lfs"].status, [1, 1, 0, 1])
    np.testing.assert_array_equal(cohort.endpoints["os"].time, [40, 20, 30, 50])


def test_yes_and_no_stay_text(tmp_path):
    """YAML 1.1 reads unquoted yes/no as booleans; codes and meanings keep the text as written."""
    path = small_study(
        tmp_path,
        "id,t,gv,fu,dead\n1,10,yes,40,yes\n2,20,no,20,no\n",
        "  followup: fu\n  dead: {column: dead, codes: {yes: yes, no: no}}\n  events:\n"
        "    cgvhd: {time: t, column: gv, codes: {yes: yes, no: no}}\n"
        "endpoints:\n  standard: [cgvhd]\n  custom:\n    e: {label: E, time: t, event: {column: gv, codes: [yes]}}\n",
    )
    cohort = st.read_cohort(path)
    np.testing.assert_array_equal(cohort.endpoints["cgvhd"].status, [1, 0])
    np.testing.assert_array_equal(cohort.endpoints["e"].status, [1, 0])
    np.testing.assert_array_equal(cohort.dead, [1, 0])
    factor = "risk_factors:\n  factors:\n    gv: {column: gv, label: GVHD, levels: {yes: yes, no: no}, reference: no}\n"
    (tmp_path / "study.yml").write_text(path.read_text() + factor)
    assert st.read_cohort(path).study.factors["gv"].reference == "no"  # the level as written, not 'False'


def test_time_unit_converts_to_days(tmp_path):
    path = small_study(
        tmp_path,
        "id,t,d\n1,12,1\n2,6,0\n",
        CUSTOM_E + "estimates:\n  times: [0.5]\n  unit: years\n",
        time_unit="months",
    )
    study = st.load_study(path)
    cohort = st.read_cohort(study)
    np.testing.assert_allclose(cohort.endpoints["e"].time, [365.25, 182.625])
    assert study.times_days == (182.625,) and cohort.endpoint_kind("e") == ("km", 1)


def test_xlsx_cohort(bmt_copy, tmp_path):
    pd.read_csv(EXAMPLES / "bmt" / "bmt.csv").to_excel(tmp_path / "bmt.xlsx", index=False, sheet_name="patients")
    path = bmt_copy(("file: bmt.csv", "file: bmt.xlsx\n  sheet: patients"))
    cohort = st.read_cohort(path)
    assert cohort.endpoints["relapse"].counts() == {0: 54, 1: 42, 2: 41}
    path = bmt_copy(("file: bmt.csv", "file: bmt.xlsx\n  sheet: other"))
    (problem,) = st.validate_study(path)
    assert problem.path == "cohort.file" and "bmt.xlsx has no sheet 'other'; its sheets: 'patients'" in problem.message


def test_study_as_data():
    study = st.load_study(BMT_STUDY)
    assert study.endpoint_names == ("os", "lfs", "relapse", "nrm", "cgvhd", "platelet_engraftment", "agvhd")
    assert study.factor_endpoints == ("os", "lfs", "relapse", "nrm", "agvhd")
    assert study.factors["disease"].level_labels == ("ALL", "AML low risk", "AML high risk")
    assert study.factors["age"].cuts == (28.0,)
    assert study.multivariable.models == ("fine_gray", "cause_specific")
    assert study.custom_endpoints["agvhd"].kind == "cif"
    assert study.baseline[0].rows[1].type == "continuous" and study.baseline[0].rows[7].summary == "range"
    assert study.min_cell == 5 and study.synthetic is False and study.paper_registry is None
    assert study.cohort_file == (EXAMPLES / "bmt" / "bmt.csv").resolve()


def test_cut_groups_are_right_closed(tmp_path):
    path = small_study(
        tmp_path,
        "id,t,d,age\n1,5,1,27.9\n2,5,1,28\n3,5,0,28.1\n4,5,0,\n",
        CUSTOM_E + "risk_factors:\n  factors:\n    age: {column: age, cuts: [28], reference: '>28'}\n",
    )
    factor = st.read_cohort(path).factors["age"]
    assert list(factor.cat.categories) == [">28", "<=28"]
    assert factor.tolist()[:3] == ["<=28", "<=28", ">28"] and pd.isna(factor.iloc[3])


def test_reference_page_is_generated_from_the_schema():
    doc = (ROOT / "docs" / "study_file.md").read_text()
    assert doc == st.schema_reference() + "\n", "regenerate: python -m hsct_analysis.cohort.study --reference"
    listed = set(re.findall(r"^\| `([^`]+)` \|", doc, flags=re.M))
    keys = set(st.schema_keys())
    assert keys <= listed, keys - listed
    assert {
        "cohort.events.*.codes",
        "endpoints.custom.*.competing[].label",
        "risk_factors.multivariable.forced",
    } <= keys
    for name in st.se.STANDARD_ENDPOINTS:
        assert f"| `{name}`" in doc


def test_the_bundled_study_file_derives_what_the_bundled_loader_derives():
    """data/study.yml (the Cao 2023 reproduction) gives the loader's endpoints and the paper's 13 factors."""
    from hsct_analysis.cohort import factors, load_cohort

    cohort = st.read_cohort(ROOT / "data" / "study.yml")
    bundled = load_cohort(ROOT / "data" / "cohort.csv")
    assert cohort.study.synthetic and cohort.study.paper_registry.is_dir()
    columns = {
        "os": ("os_time", "os_event"),
        "lfs": ("lfs_time", "lfs_event"),
        "relapse": ("relapse_nrm_time", "relapse_nrm_status"),
        "nrm": ("relapse_nrm_time", "relapse_nrm_status"),
    }
    assert len(cohort.endpoints) == 14
    for name, data in cohort.endpoints.items():
        time, status = columns.get(name, (f"{name}_time", f"{name}_status"))
        np.testing.assert_array_equal(data.time, bundled[time].to_numpy(float))
        np.testing.assert_array_equal(data.status, bundled[status].to_numpy(int))
    assert set(cohort.factors) == set(factors.FACTORS)
    for name, level in cohort.factors.items():
        expected = factors.factor(bundled, name)
        assert list(level.cat.categories) == list(expected.cat.categories), name
        assert (
            level.astype(object).where(level.notna(), None).tolist()
            == expected.astype(object).where(expected.notna(), None).tolist()
        ), name


def test_factor_other_and_exclude(tmp_path):
    factor_line = "risk_factors:\n  factors:\n    g: {column: gene, levels: {'BCR::ABL1': positive}, FACTOR}\n"
    path = small_study(
        tmp_path,
        "id,t,d,gene\n1,5,1,BCR::ABL1\n2,5,1,E2A::PBX1\n3,5,0,unknown\n4,5,0,negative\n",
        CUSTOM_E + factor_line,
    )
    study = path.read_text()
    path.write_text(study.replace("FACTOR", "other: negative, exclude: [unknown], reference: negative"))
    factor = st.read_cohort(path).factors["g"]
    assert list(factor.cat.categories) == ["negative", "positive"]
    assert factor.astype(object).where(factor.notna(), None).tolist() == ["positive", "negative", None, "negative"]
    path.write_text(study.replace("FACTOR", "reference: positive"))
    with pytest.raises(st.StudyError) as info:
        st.read_cohort(path)
    assert [p.line for p in info.value.problems] == [3, 4, 5]
    assert "give `other` or `exclude`" in info.value.problems[0].rule
    path.write_text(study.replace("FACTOR", "exclude: ['BCR::ABL1'], reference: positive"))
    assert "also listed in levels" in str(st.validate_study(path)[0])


def test_no_edit_of_a_study_file_raises(tmp_path):
    """Deleting any line of the bmt study file, or giving any key a value of the wrong shape, yields
    problems (or none), never an exception. (st.check on the same edits, which also reads the cohort
    when the file is valid, was run by hand: 503 edits, none raised.)"""
    shutil.copy(EXAMPLES / "bmt" / "bmt.csv", tmp_path / "bmt.csv")
    lines = BMT_STUDY.read_text().splitlines()
    path, edits = tmp_path / "study.yml", 0
    for i, line in enumerate(lines):
        key = re.match(r"^(\s*-?\s*\w+:)\s*\S", line)
        for replacement in [None] + ([f"{key.group(1)} {v}" for v in ("~", "{a: 1}")] if key else []):
            edited = lines[:i] + ([] if replacement is None else [replacement]) + lines[i + 1 :]
            path.write_text("\n".join(edited) + "\n")
            assert all(isinstance(p, st.StudyProblem) for p in st.validate_study(path))
            edits += 1
    assert edits > 200


def test_times_must_be_finite_and_within_a_century(bmt_copy):
    """inf validated and then failed the build; 1e12 validated and then drew an axis of 2.7e8 ticks (hours, 11 GB)."""

    def edit(df):
        df.loc[3, "t1"] = "inf"
        df.loc[5, "ta"] = "1e12"
        df.loc[6, "t2"] = "-inf"

    path = bmt_copy(csv_edit=edit)
    with pytest.raises(st.StudyError) as info:
        st.read_cohort(path)
    text = [str(p) for p in info.value.problems]
    assert "bmt.csv, line 5 (patient 4), column t1: 'inf' is not a finite number (follow-up)" in text
    assert any(t.startswith("bmt.csv, line 7 (patient 6), column ta: '1e12' is above 36,525 days") for t in text)
    assert "bmt.csv, line 8 (patient 7), column t2: '-inf' is not a finite number (time of relapse)" in text
    assert len(text) == 3  # one problem per cell: not also "is not a number" or "is empty"
    years = bmt_copy(("time_unit: days", "time_unit: years"))  # bmt's days (up to 2,640) read as years
    assert sum("is above 100 years" in str(p) for p in st.check(years)) > 100


def test_a_column_name_given_twice_is_an_error_not_a_traceback(bmt_copy, tmp_path):
    from hsct_analysis.cohort import draft

    path = bmt_copy()
    lines = (tmp_path / "bmt.csv").read_text().splitlines()
    lines[0] = lines[0].replace("t2,", "t1 ,", 1)  # only a space tells it from t1
    (tmp_path / "bmt.csv").write_text("\n".join(lines) + "\n")
    expected = "'t1': column name appears 2 times in the header (positions 3, 4): keep one"
    assert [str(p) for p in st.validate_study(path) if expected in str(p)]
    with pytest.raises(st.StudyError, match="'t1': column name appears 2 times"):
        st.read_cohort(path)
    with pytest.raises(ValueError, match="line 1, column 't1': column name appears 2 times"):
        draft.read_table(tmp_path / "bmt.csv")


def test_an_event_coded_as_happened_after_follow_up_is_a_warning(bmt_copy):
    """In the time + code form an event's time after the last follow-up is used as given (as R would) and reported
    as a warning to check; KMsurv's bmt holds one (chronic GVHD on day 200, death on day 168). A day-form event after
    follow-up stays an error (test_not_applicable_values_and_days_form)."""

    def edit(df):
        df.loc[3, "t2"] = str(int(df.loc[3, "t1"]) + 100)  # a relapse after the last follow-up
        df.loc[3, "d2"] = "1"
        df.loc[4, "ta"] = str(int(df.loc[4, "t1"]) + 5)  # a censored time after it: no event, no warning
        df.loc[4, "da"] = "0"

    cohort = st.read_cohort(bmt_copy(csv_edit=edit))
    warned = [(w.line, w.patient_id, w.column) for w in cohort.warnings]
    assert warned == [(5, "4", "t2"), (128, "127", "tc")]
    assert all(w.rule.endswith("; used as given: check it") for w in cohort.warnings)
    assert cohort.events["relapse"].time[3] == cohort.followup_days[3] + 100  # used as given


def test_a_cut_point_that_leaves_a_group_empty_is_a_warning(bmt_copy):
    """bmt's patient ages run from 7 to 52: a cut at 60 leaves '> 60' empty, and cuts at 28 and 28.5 leave the group
    between them empty. Each is a warning naming the factor, the group, its bounds and the values' range; the book
    still builds (the figure and tests by the factor say there are fewer than two groups)."""
    labels = 'labels: ["<=28", ">28"]\n      reference: "<=28"'
    cohort = st.read_cohort(bmt_copy(("cuts: [28]", "cuts: [60]"), (labels, 'reference: "<=60"')))
    rules = [w.rule for w in cohort.warnings if "no patient falls" in w.rule]
    assert len(rules) == 1 and "group '>60'" in rules[0] and "(> 60; the recorded values run from 7 to 52)" in rules[0]
    cohort = st.read_cohort(bmt_copy(("cuts: [28]", "cuts: [28, 28.5]"), (labels, 'reference: "<=28"')))
    rules = [w.rule for w in cohort.warnings if "no patient falls" in w.rule]
    assert rules == [
        "no patient falls in group '28-28.5' of risk_factors.factors.age (> 28 and ≤ 28.5; the recorded values run "
        "from 7 to 52): check its cuts"
    ]
    assert not [w for w in st.read_cohort(bmt_copy()).warnings if "no patient falls" in w.rule]


def test_a_custom_endpoints_unnamed_codes(bmt_copy):
    """endpoints.custom.*.event.censored names the codes that mean no event yet: then a slip in the column (a '3', an
    empty cell) is an error with its line and patient. Without it, such values read as censored, and two or more
    different ones beside the event's codes are one warning that counts them. A code both event and censored is an
    error of the study file."""

    def slip(df):
        df.loc[4, "da"] = "3"
        df.loc[8, "da"] = None

    # bmt's da holds only 0 and 1: no warning without `censored` (checked first: the copy's CSV is edited next)
    assert not [
        w
        for w in st.read_cohort(bmt_copy(("codes: [1], censored: [0]}", "codes: [1]}"))).warnings
        if "does not name" in w.rule
    ]
    problems = [str(p) for p in st.check(bmt_copy(csv_edit=slip))]
    assert problems == [
        "bmt.csv, line 6 (patient 5), column da: '3' is not a code named by endpoints.custom.agvhd (event, competing "
        "or censored: 1, 0)",
        "bmt.csv, line 10 (patient 9), column da: is empty; endpoints.custom.agvhd needs one of its codes (1, 0)",
    ]
    loose = bmt_copy(("codes: [1], censored: [0]}", "codes: [1]}"), csv_edit=slip)
    assert st.check(loose) == []
    warned = [w.rule for w in st.read_cohort(loose).warnings if "does not name" in w.rule]
    assert warned == [
        "holds values that endpoints.custom.agvhd does not name, all read as censored: '0' (109 patients, first on "
        "line 3), '3' (1 patient, line 6), empty (1 patient, line 10); list the codes that mean censored in "
        "endpoints.custom.agvhd.event.censored, and any other value is stopped"
    ]
    both = [str(p) for p in st.validate_study(bmt_copy(("censored: [0]}", "censored: [0, 1]}")))]
    assert any("endpoints.custom.agvhd.event.censored: names 1, also an event code" in p for p in both)


def test_a_custom_endpoints_codes_name_one_thing_each(bmt_copy):
    """A code both censored and competing on the event's column, or both event and competing, is a study-file error;
    so is a censored code that cohort.not_applicable reads as an empty cell (it could never match)."""
    same_column = bmt_copy(
        ("censored: [0]}", "censored: [0, 2, NA]}"),
        (
            "{label: death without acute GVHD, column: d1, codes: [1]}",
            "{label: death without acute GVHD, column: da, codes: [2, 1]}",
        ),
    )
    found = sorted(f"{p.path}: {p.message}" for p in st.validate_study(same_column))
    assert found == [
        "endpoints.custom.agvhd.competing[0].codes: names 1, also an event code",
        "endpoints.custom.agvhd.competing[0].codes: names 2, also a censored code",
        "endpoints.custom.agvhd.event.censored: names 'NA', which cohort.not_applicable reads as an empty cell: it "
        "can never match; an empty cell is not a code",
    ]


def test_a_factor_no_patient_has_is_a_warning(bmt_copy):
    def blank(df):
        df["z8"] = None

    cohort = st.read_cohort(bmt_copy(csv_edit=blank))
    rules = [(w.column, w.rule) for w in cohort.warnings if "no recorded value" in w.rule]
    assert rules == [
        (
            "z8",
            "holds no recorded value for risk_factors.factors.fab: its tables, curves and models will say so; check the column",
        )
    ]
