"""The audit finds the paper's known conflicts by generic checks, and nothing in a clean registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hsct_analysis.paper import audit
from hsct_analysis.paper.registry import COLUMNS, load_registry


@pytest.fixture(scope="module")
def paper():
    registry = load_registry()
    marked, findings = audit.audit(registry)
    return registry, marked, findings


def _with(findings: pd.DataFrame, check: str, text: str) -> pd.DataFrame:
    return findings[(findings["check"] == check) & findings["reason"].str.contains(text, regex=False)]


# ----------------------------------------------------------------- the paper's conflicts
def test_identity_gap_of_the_whole_cohort_at_3_years(paper):
    _, marked, findings = paper
    hit = _with(findings, "identity", "whole cohort, 3 y")
    assert len(hit) == 1
    assert hit["magnitude"].iloc[0] == pytest.approx(3.9)
    assert "1-LFS = 50.2% but RI + NRM = 10.5 + 43.6 = 54.1%" in hit["reason"].iloc[0]
    assert set(hit["ids"].iloc[0].split(";")) == {"res.lfs.3y.est", "res.relapse.3y.est", "res.nrm.3y.est"}
    status = marked.set_index("id")["status"]
    assert status["res.lfs.3y.est"] == "inconsistent"
    assert status["abs.lfs.3y.est"] == "inconsistent"  # same number in the Abstract follows
    # conflicts are marked per estimate: the CI bounds of the conflicting estimate stay targets
    assert status["res.lfs.3y.lo"] == "ok" and status["res.lfs.3y.up"] == "ok"


def test_atg_f_lfs_equals_os_with_relapse(paper):
    _, _, findings = paper
    hit = _with(findings, "lfs_equals_os", "atg_type ATG-F")
    assert len(hit) == 1 and hit["magnitude"].iloc[0] == pytest.approx(2.0)
    assert "LFS = OS = 65.7%" in hit["reason"].iloc[0]
    assert len(findings[findings["check"] == "lfs_equals_os"]) == 1  # MRD-positive has RI 0: not flagged


def test_percent_mismatches(paper):
    _, marked, findings = paper
    crs = _with(findings, "percent_vs_count", "1 (1.8%) patient's CRS grade")
    assert len(crs) == 1 and crs["magnitude"].iloc[0] == pytest.approx(1.8 - 100 / 95)
    assert "matches 1/56" in crs["reason"].iloc[0]
    male = _with(findings, "percent_vs_count", "'56 (59.0%)'")
    assert "should print as 58.9%" in male["reason"].iloc[0] and "rounding twice" in male["reason"].iloc[0]
    assert len(findings[findings["check"] == "percent_vs_count"]) == 8
    assert marked.set_index("id").loc["t1.sex.male.pct", "status"] == "inconsistent"
    assert marked.set_index("id").loc["t1.sex.female.pct", "status"] == "ok"


def test_hr_ci_and_separation(paper):
    _, marked, findings = paper
    ci = _with(findings, "ci_order", "estimate 2.83, lower 2.83, upper 1.37")
    assert set(ci["ids"].str.split(";").str[0]) == {
        "t4.lfs.atg_type.ATG-T.est",
        "res.multivariate.lfs.atg_type.ATG-T.est",
    }
    assert "probably (1.37-5.85)" in ci["reason"].iloc[0]
    sep = findings[findings["check"] == "hr_separation"]
    assert len(sep) == 2 and "1.42E+06" in sep["reason"].iloc[0]
    assert sep["magnitude"].iloc[0] == pytest.approx(6.1523, abs=1e-4)
    assert marked.set_index("id").loc["t4.relapse.atg_type.ATG-T.up", "status"] == "inconsistent"
    # the level's own Wald p is a function of the same non-finite estimate, so it shares the finding
    assert sep["ids"].iloc[0].split(";")[-1] == "t4.relapse.atg_type.ATG-T.p"
    assert marked.set_index("id").loc["t4.relapse.atg_type.ATG-P.p", "status"] == "inconsistent"


def test_subgroup_sums(paper):
    _, marked, findings = paper
    sums = findings[findings["check"] == "category_sum"]
    timing = sums[sums["reason"].str.contains("relapse_timing: 19+73 = 92 of 95 (shortfall 3)", regex=False)]
    assert len(timing) == 1 and timing["marks"].iloc[0] == "reported"
    assert "relapse_site MRD-only" in timing["reason"].iloc[0]
    table3 = sums[sums["ids"].str.startswith("t3.")]
    assert sorted(table3["magnitude"]) == [-10, -8, -3, -1]
    assert (marked.loc[marked["file"] == "table3"].query("kind == 'count'")["status"] == "ok").all()


def test_duplicate_gvhd_deaths(paper):
    _, _, findings = paper
    dup = findings[findings["check"] == "duplicate"]
    assert list(dup["ids"]) == ["res.deaths.cause.GVHD.n;res.deaths.gvhd_any.n"]
    assert dup["magnitude"].iloc[0] == 1


def test_p_and_ci_agree_and_imply_the_printed_p(paper):
    registry, _, findings = paper
    table = audit.hr_p_agreement(registry)
    assert len(table) == 10 and table["agree"].all()
    assert findings[findings["check"] == "p_vs_ci"].empty
    gt90 = table.set_index("id").loc["t4.lfs.cart_interval_90.>90.est"]
    assert gt90["p_from_lower"] == pytest.approx(0.0025, abs=1e-4)


def test_committed_status_is_the_audits(paper):
    registry, marked, _ = paper
    assert (registry["status"] == marked["status"]).all()
    assert (registry["reason"] == marked["reason"]).all()
    # per estimate (265 when CI bounds followed), plus the 20 bounds proven out of reach (18 and two reprints) and
    # the two Wald p-values of separated hazard ratios
    assert (marked["status"] == "inconsistent").sum() == 137


# ----------------------------------------------------------------- the identity-gap pattern
def test_identity_gaps_simple_fractions(paper):
    registry, _, _ = paper
    gaps = audit.identity_gaps(registry).set_index("group")
    three_years = gaps[gaps["time_days"] == 1095.75]
    gt90 = three_years.loc["cart_interval_90 >90"]
    assert (gt90["n"], gt90["lfs_k"], gt90["relapse_k"], gt90["nrm_k"]) == (11, 2, 2, 7)
    assert gt90["all_simple"] and gt90["gap"] == 0.0
    assert three_years.loc["atg_type ATG-P", "all_simple"] and three_years.loc["mrd_second positive", "all_simple"]
    assert three_years.loc["whole cohort", "gap"] == pytest.approx(3.9)
    assert sorted(three_years.index[three_years["all_simple"]]) == [
        "atg_type ATG-P", "cart_interval_90 >90", "mrd_second positive",
    ]  # fmt: skip


def test_identity_gap_pattern(paper):
    registry, _, _ = paper
    pattern = audit.identity_gap_pattern(registry)
    simple, other = pattern.loc["all k/n"], pattern.loc["not k/n"]
    assert (simple["groups"], simple["n_min"], simple["n_max"]) == (3, 7, 11)
    assert simple["gap_max"] == pytest.approx(0.1)
    assert (other["groups"], other["n_min"], other["n_max"]) == (25, 19, 95)
    assert other["gap_mean"] == pytest.approx(3.972)
    assert pattern.attrs["spearman_gap_n"] == pytest.approx(0.386, abs=1e-3)


# ----------------------------------------------------------------- a clean synthetic registry
def _row(row_id, kind, value, stat="value", unit=None, printed=None, **extra):
    units = {"count": "n", "percent": "%", "km": "%", "cif": "%", "hr": "ratio", "p": "p"}
    row = dict.fromkeys(COLUMNS, "")
    row.update(id=row_id, kind=kind, stat=stat, value=value, unit=unit or units.get(kind, "days"), source="synthetic")
    row["printed"] = printed if printed is not None else str(value)
    row.update(extra)
    return row


def _estimate(stem, kind, endpoint, v, lo, hi, **extra):
    printed = f"{v} ({lo}-{hi})"
    return [
        _row(f"{stem}.est", kind, v, "value", printed=printed, endpoint=endpoint, time_days="1095.75", **extra),
        _row(f"{stem}.lo", kind, lo, "lower", printed=printed, endpoint=endpoint, time_days="1095.75", **extra),
        _row(f"{stem}.up", kind, hi, "upper", printed=printed, endpoint=endpoint, time_days="1095.75", **extra),
    ]


def _clean() -> dict[str, list[dict]]:
    """20 patients, every number consistent with every other."""
    text = [_row("res.patients.enrolled.n", "count", "20", variable="patients", category="enrolled")]
    text += _estimate("res.os.3y", "km", "os", "70.0", "50.0", "85.0")
    text += _estimate("res.lfs.3y", "km", "lfs", "60.0", "40.0", "78.0")
    text += _estimate("res.relapse.3y", "cif", "relapse", "10.0", "2.6", "38.0")
    text += _estimate("res.nrm.3y", "cif", "nrm", "30.0", "15.0", "60.0")
    text += [_row("abs.os.3y.est", "km", "70.0", endpoint="os", time_days="1095.75", duplicate_of="res.os.3y.est")]
    text += [
        _row("res.followup_days.median", "median", "600", printed="600 (30-1800)", variable="followup_days"),
        _row("res.followup_days.min", "range", "30", "min", printed="600 (30-1800)", variable="followup_days"),
        _row("res.followup_days.max", "range", "1800", "max", printed="600 (30-1800)", variable="followup_days"),
    ]
    table1 = []
    for level, n, pct in (("male", "12", "60.0"), ("female", "8", "40.0")):
        row = dict(printed=f"{n} ({pct}%)", variable="sex", category=level, denominator="20")
        table1 += [_row(f"t1.sex.{level}.n", "count", n, **row), _row(f"t1.sex.{level}.pct", "percent", pct, **row)]
    table3 = [
        _row("t3.n.sex.male", "count", "12", variable="sex", category="male", denominator="20"),
        _row("t3.n.sex.female", "count", "8", variable="sex", category="female", denominator="20"),
    ]
    for level, (lfs, os_, ri, nrm) in {
        "male": ("50.0", "58.3", "8.3", "41.7"),
        "female": ("75.0", "87.5", "12.5", "12.5"),
    }.items():
        for endpoint, kind, v in (("lfs", "km", lfs), ("os", "km", os_), ("relapse", "cif", ri), ("nrm", "cif", nrm)):
            table3 += _estimate(
                f"t3.{endpoint}.sex.{level}", kind, endpoint, v, "1.0", "99.0", factor="sex", level=level
            )
    hr = dict(endpoint="os", factor="sex", level="female", reference="male", model="multivariate")
    table4 = [
        _row("t4.os.sex.female.est", "hr", "2.00", printed="2.00 (1.20-3.33)", **hr),
        _row("t4.os.sex.female.lo", "hr", "1.20", "lower", printed="2.00 (1.20-3.33)", **hr),
        _row("t4.os.sex.female.up", "hr", "3.33", "upper", printed="2.00 (1.20-3.33)", **hr),
        _row("t4.os.sex.p", "p", "0.008", endpoint="os", factor="sex", model="multivariate", test="wald"),
    ]
    return {"table1": table1, "table3": table3, "table4": table4, "text": text}


def _load(tmp_path: Path, files: dict[str, list[dict]]) -> pd.DataFrame:
    for name, rows in files.items():
        pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp_path / f"{name}.csv", index=False)
    return load_registry(tmp_path)


def _edit(files, row_id, **changes):
    for rows in files.values():
        for row in rows:
            if row["id"] == row_id:
                if "value" in changes and "printed" not in changes:
                    row["printed"] = row["printed"].replace(row["value"], changes["value"], 1)
                row.update(changes)
    return files


def test_clean_registry_has_no_findings(tmp_path):
    registry = _load(tmp_path, _clean())
    marked, findings = audit.audit(registry)
    assert len(registry) == 51
    assert findings.empty
    assert (marked["status"] == "ok").all()
    gaps = audit.identity_gaps(registry)
    assert list(gaps["gap"]) == [0.0, 0.0, 0.0]
    assert list(gaps["n"]) == [8, 12, 20]


@pytest.mark.parametrize(
    ("row_id", "changes", "check", "magnitude"),
    [
        ("res.lfs.3y.est", {"value": "55.0", "printed": "55.0 (40.0-78.0)"}, "identity", -5.0),
        ("t1.sex.male.pct", {"value": "61.0", "printed": "12 (61.0%)"}, "percent_vs_count", 1.0),
        ("t3.n.sex.female", {"value": "7", "printed": "7"}, "category_sum", -1.0),
        ("res.nrm.3y.lo", {"value": "35.0"}, "ci_order", 5.0),
        ("t4.os.sex.p", {"value": "0.2"}, "p_vs_ci", 0.2),
        ("res.followup_days.median", {"value": "2000", "printed": "2000 (30-1800)"}, "median_in_range", 200.0),
        ("abs.os.3y.est", {"value": "71.0"}, "duplicate", 1.0),
        ("t3.os.sex.male.est", {"value": "45.0"}, "lfs_le_os", 5.0),
        ("t3.os.sex.male.est", {"value": "50.0"}, "lfs_equals_os", 8.3),
        ("t3.os.sex.female.est", {"value": "95.0"}, "nrm_le_mortality", 7.5),
    ],
)
def test_each_check_fires_on_one_broken_number(tmp_path, row_id, changes, check, magnitude):
    files = _edit(_clean(), row_id, **changes)
    if check == "ci_order":
        files = _edit(files, "res.nrm.3y.lo", printed="30.0 (35.0-60.0)")
        files = _edit(files, "res.nrm.3y.est", printed="30.0 (35.0-60.0)")
        files = _edit(files, "res.nrm.3y.up", printed="30.0 (35.0-60.0)")
    marked, findings = audit.audit(_load(tmp_path, files))
    marking = findings[findings["marks"] == "inconsistent"]
    assert list(marking["check"]) == [check]
    assert marking["magnitude"].iloc[0] == pytest.approx(magnitude, abs=1e-9)
    assert marked.set_index("id").loc[row_id, "status"] == "inconsistent"
    # a whole-cohort estimate moved away from its groups is also reported (never marked) by subgroup_mixture
    assert set(findings.loc[findings["marks"] != "inconsistent", "check"]) <= {"subgroup_mixture"}


def test_subgroup_mixture_is_reported_not_marked(tmp_path):
    """Groups that split the cohort: their size-weighted estimate equals the whole cohort's without censoring.
    Female LFS 75 -> 80 moves the weighted mean of 12 x 50 and 8 x 80 to 62.0, 2.0 pp above the whole cohort's
    60.0: reported with that gap, and no row marked for it."""
    files = _edit(_clean(), "t3.lfs.sex.female.est", value="80.0", printed="80.0 (1.0-99.0)")
    marked, findings = audit.audit(_load(tmp_path, files))
    mixture = findings[findings["check"] == "subgroup_mixture"]
    assert len(mixture) == 1
    assert mixture["magnitude"].iloc[0] == pytest.approx(-2.0, abs=1e-9)
    assert mixture["marks"].iloc[0] == "reported"
    assert set(mixture["ids"].iloc[0].split(";")) == {"t3.lfs.sex.male.est", "t3.lfs.sex.female.est", "res.lfs.3y.est"}
    assert "62.0%" in mixture["reason"].iloc[0] and "(-2.0 pp)" in mixture["reason"].iloc[0]
    status = marked.set_index("id")["status"]
    assert status["res.lfs.3y.est"] == "ok" and status["t3.lfs.sex.male.est"] == "ok"


def test_subgroup_mixture_skips_factors_that_leave_patients_out(tmp_path):
    """Groups holding 19 of 20 patients have no exact relation to the whole cohort: nothing is reported."""
    files = _edit(_clean(), "t3.lfs.sex.female.est", value="80.0", printed="80.0 (1.0-99.0)")
    files = _edit(files, "t3.n.sex.female", value="7", printed="7")
    _, findings = audit.audit(_load(tmp_path, files))
    assert "subgroup_mixture" not in set(findings["check"])


def test_hr_separation_fires(tmp_path):
    files = _clean()
    ref = dict(endpoint="os", factor="sex", level="male", reference="male", model="multivariate")
    files["table4"].append(_row("t4.os.sex.male.ref", "hr", "1", printed="1", **ref))  # the printed reference HR 1
    files = _edit(files, "t4.os.sex.female.est", value="2000", printed="2000 (1200-3330)")
    files = _edit(files, "t4.os.sex.female.lo", value="1200", printed="2000 (1200-3330)")
    files = _edit(files, "t4.os.sex.female.up", value="3330", printed="2000 (1200-3330)")
    _, findings = audit.audit(_load(tmp_path, files))
    assert list(findings["check"]) == ["hr_separation"]
    assert findings["magnitude"].iloc[0] == pytest.approx(3.30103, abs=1e-5)
    # a two-level factor's p is the Wald test of its one HR (the reference's printed 1 is not a second), so it
    # shares the finding
    assert findings["ids"].iloc[0] == "t4.os.sex.female.est;t4.os.sex.female.lo;t4.os.sex.female.up;t4.os.sex.p"
    assert "the factor's p (its only hazard ratio) is the Wald test" in findings["reason"].iloc[0]


def test_hr_separation_leaves_the_p_of_a_factor_with_more_levels(tmp_path):
    """With two HR rows under one factor-wide p (a test on 2 df), that p is not the separated level's Wald test."""
    files = _clean()
    for level, (est, lo, up) in {"ATG-T": ("2000", "1200", "3330"), "ATG-P": ("1.50", "0.50", "4.50")}.items():
        hr = dict(endpoint="os", factor="atg_type", level=level, reference="ATG-F", model="multivariate")
        printed = f"{est} ({lo}-{up})"
        files["table4"] += [
            _row(f"t4.os.atg_type.{level}.est", "hr", est, printed=printed, **hr),
            _row(f"t4.os.atg_type.{level}.lo", "hr", lo, "lower", printed=printed, **hr),
            _row(f"t4.os.atg_type.{level}.up", "hr", up, "upper", printed=printed, **hr),
        ]
    files["table4"].append(
        _row("t4.os.atg_type.p", "p", "0.020", endpoint="os", factor="atg_type", model="multivariate", test="wald")
    )
    _, findings = audit.audit(_load(tmp_path, files))
    sep = findings[findings["check"] == "hr_separation"]
    assert list(sep["ids"]) == ["t4.os.atg_type.ATG-T.est;t4.os.atg_type.ATG-T.lo;t4.os.atg_type.ATG-T.up"]


def test_unreachable_bounds_mark_the_bound_not_its_partner(paper):
    """A bound that a proof puts out of reach is a conflict of its own; the partner it was proven against stays a
    target (one of the two can hold)."""
    _, marked, findings = paper
    hits = findings[findings["check"] == "unreachable_bound"]
    ids = set(hits["ids"])
    # the log interval's geometry: 16 Table 3 NRM upper bounds; an exhaustive search: two small-group bounds
    assert sum(i.startswith("t3.nrm.") and i.endswith(".up") for i in ids) >= 16
    assert {"t3.nrm.cart_interval_90.<=90.up", "t3.relapse.cart_interval_90.>90.up"} <= ids
    assert (hits["magnitude"] > 0).all() and (hits["marks"] == "inconsistent").all()
    status = marked.set_index("id")["status"]
    assert status["t3.nrm.cart_interval_90.<=90.up"] == "inconsistent"
    assert status["res.univariate.nrm.cart_interval_90.<=90.up"] == "inconsistent"  # the same number in the text
    assert status["t3.nrm.cart_interval_90.<=90.lo"] == "ok"  # the partner stays a target
    row = hits[hits["ids"] == "t3.nrm.cart_interval_90.<=90.up"].iloc[0]
    assert row["reason"].startswith("The interval is symmetric on the log scale")
