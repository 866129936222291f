"""The published-results registry: transcription, schema validation, lookup."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.paper.registry import (
    PAPER,
    REGISTRY_DIR,
    RegistryError,
    group_size,
    load_registry,
    lookup,
    numbers_in,
)

PAPER_TEXT = Path("/work/shared/paper/cao2023_second_hsct_after_cart.txt")


@pytest.fixture(scope="module")
def registry() -> pd.DataFrame:
    return load_registry()


def test_registry_size_and_files(registry):
    assert len(registry) == 1011
    assert registry.groupby("file").size().to_dict() == {
        "table1": 91, "table2": 92, "table3": 401, "table4": 48, "text": 379,
    }  # fmt: skip
    assert registry["id"].is_unique


def test_table3_has_every_factor_level_endpoint(registry):
    t3 = registry[registry["file"] == "table3"]
    for name, factor in FACTORS.items():
        sizes = t3[(t3["kind"] == "count") & (t3["variable"] == name)]
        assert sorted(sizes["category"]) == sorted(factor.levels), name
        for endpoint in ("lfs", "os", "relapse", "nrm"):
            p = t3[(t3["kind"] == "p") & (t3["factor"] == name) & (t3["endpoint"] == endpoint)]
            assert len(p) == 1 and p["test"].iloc[0] == ("logrank" if endpoint in ("lfs", "os") else "gray")
            estimates = t3[
                (t3["factor"] == name) & (t3["endpoint"] == endpoint) & (t3["kind"] != "p") & (t3["stat"] == "value")
            ]
            assert len(estimates) == len(factor.levels)
            assert (estimates["time_days"] == 1095.75).all()
    # 27 groups x 4 endpoints x 3 numbers, less the CI of MRD-positive RI printed as "0"
    assert (t3["kind"].isin(["km", "cif"])).sum() == 27 * 4 * 3 - 2


def test_known_values(registry):
    row = lookup(registry, endpoint="lfs", factor="cart_interval_90", level=">90", file="table3")
    assert row.set_index("stat")["value"].to_dict() == {"value": 18.2, "lower": 2.1, "upper": 45.1}
    atg = lookup(registry, file="table4", endpoint="lfs", level="ATG-T", kind="hr").set_index("stat")["value"]
    assert (atg["value"], atg["lower"], atg["upper"]) == (2.83, 2.83, 1.37)
    sep = lookup(registry, file="table4", endpoint="relapse", level="ATG-T", kind="hr").set_index("stat")["value"]
    assert sep["value"] == pytest.approx(1.42e6)
    p = lookup(registry, id="t4.relapse.atg_type.ATG-T.p").iloc[0]
    assert p["value"] == 0.001 and "printed as <0.001" in p["note"]
    assert lookup(registry, id="t1.sex.male.pct")["value"].iloc[0] == 59.0
    assert lookup(registry, id="t1.fusion_gene.E2A::PBX1.pct")["value"].iloc[0] == 5.3
    assert lookup(registry, id="res.crs_grade.undetermined.pct")["value"].iloc[0] == 1.8
    assert "typo" in lookup(registry, id="t3.n.conditioning_second.Bu")["note"].iloc[0]
    deaths = lookup(registry, canonical=True, variable="deaths", kind="count")
    assert deaths["value"].sum() == 40 == lookup(registry, id="res.dead.n")["value"].iloc[0]


def test_lookup_numeric_and_canonical(registry):
    three_year_os = lookup(registry, endpoint="os", factor="", time_days=1095.75, stat="value")
    assert set(three_year_os["value"]) == {55.3}
    assert len(three_year_os) == 4  # Results, Abstract, Figure 2 legend, Discussion
    assert list(lookup(registry, canonical=True, endpoint="os", factor="", time_days=1095.75, stat="value")["id"]) == [
        "res.os.3y.est"
    ]
    with pytest.raises(KeyError):
        lookup(registry, no_such_column=1)


def test_group_size(registry):
    assert group_size(registry) == 95
    assert group_size(registry, "cart_interval_90", ">90") == 11
    assert group_size(registry, "atg_type", "ATG-P") == 7


def test_every_printed_text_is_verbatim_in_the_paper(registry):
    if not PAPER_TEXT.exists():
        pytest.skip("paper text not available on this machine")
    paper = re.sub(r"\s+", " ", PAPER_TEXT.read_text(encoding="utf-8"))
    missing = [row_id for row_id, printed in zip(registry["id"], registry["printed"]) if printed not in paper]
    assert missing == []


def test_numbers_in_reads_digits_words_and_scientific():
    assert numbers_in("Sixty-one patients (64.2%)") == [64.2, 61.0]
    assert numbers_in("1.42E+06 (5.08E+05-3.99E+06)") == [1.42e6, 5.08e5, 3.99e6]
    assert numbers_in("Nine patients, one with DLI") == [9.0, 1.0]


def test_paper_citation():
    assert PAPER["doi"] == "10.3389/fimmu.2023.1191382"
    assert (PAPER["year"], PAPER["volume"], PAPER["article"]) == (2023, 14, "1191382")


# ----------------------------------------------------------------- malformed registries
def _broken_copy(tmp_path: Path, file: str, row_id: str, **changes) -> Path:
    for path in REGISTRY_DIR.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    frame = pd.read_csv(tmp_path / f"{file}.csv", dtype=str, keep_default_na=False)
    i = frame.index[frame["id"] == row_id][0]
    for column, value in changes.items():
        frame.loc[i, column] = value
    frame.to_csv(tmp_path / f"{file}.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "row_id", "changes", "rule"),
    [
        ("table3", "t3.os.sex.male.est", {"level": "men"}, "is not a level of factor 'sex'"),
        ("table3", "t3.os.sex.male.est", {"factor": "gender"}, "factor 'gender' not in FACTORS"),
        ("table1", "t1.sex.male.n", {"value": "fifty-six"}, "is not a finite number"),
        ("table1", "t1.sex.male.n", {"kind": "tally"}, "kind 'tally' not one of"),
        ("table1", "t1.sex.male.n", {"stat": "lower"}, "stat 'lower' not allowed for kind 'count'"),
        ("table1", "t1.sex.male.pct", {"unit": "percent"}, "unit 'percent' not one of"),
        ("table1", "t1.sex.male.n", {"value": "57"}, "does not appear in printed text"),
        ("text", "abs.os.3y.est", {"duplicate_of": "res.os.9y.est"}, "names no row of the registry"),
        ("table4", "t4.lfs.atg_type.ATG-T.est", {"reference": ""}, "hr row needs factor, level and reference"),
        ("table3", "t3.lfs.sex.p", {"test": "t-test"}, "test 't-test' not one of"),
        ("table3", "t3.lfs.sex.male.est", {"time_days": ""}, "needs a numeric time_days"),
        ("table2", "t2.hct_ci.0.n", {"id": "t2.hct_ci.1.n"}, "id is not unique"),
    ],
)
def test_malformed_registry_names_file_row_and_rule(tmp_path, file, row_id, changes, rule):
    directory = _broken_copy(tmp_path, file, row_id, **changes)
    with pytest.raises(RegistryError) as err:
        load_registry(directory)
    message = str(err.value)
    assert f"{file}.csv" in message and rule in message
    assert repr(changes.get("id", row_id)) in message


def test_missing_column_is_an_error(tmp_path):
    frame = pd.read_csv(REGISTRY_DIR / "table1.csv", dtype=str, keep_default_na=False).drop(columns="unit")
    frame.to_csv(tmp_path / "table1.csv", index=False)
    with pytest.raises(RegistryError, match=r"table1: missing column\(s\) \['unit'\]"):
        load_registry(tmp_path)
