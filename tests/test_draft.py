"""Drafting a study file from a cohort file (`hsct-book init DIR --cohort FILE`), on the real KMsurv cohorts:
the draft validates, reads the cohort, finds the follow-up and vital status, lists every other column as a
candidate factor, and names exactly what is left to fill in."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hsct_analysis.book import cli
from hsct_analysis.cohort import study
from hsct_analysis.cohort.draft import draft_study, find_pairs, read_table, todo_lines, write_draft

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "examples"
FIXTURES = ROOT / "tests" / "reference"


@pytest.fixture(params=["bmt", "hodg", "alloauto"])
def drafted(request, tmp_path):
    name = request.param
    path, draft = write_draft(EXAMPLES / name / f"{name}.csv", tmp_path / name)
    return name, path, draft


def test_the_draft_validates_and_reads_the_cohort(drafted):
    name, path, _ = drafted
    assert study.check(path) == []
    cohort = study.read_cohort(path)
    assert len(cohort.frame) == {"bmt": 137, "hodg": 43, "alloauto": 101}[name]


def test_follow_up_and_vital_status_are_found(drafted):
    name, path, _ = drafted
    loaded = study.load_study(path)
    assert (loaded.followup, loaded.dead_column) == {
        "bmt": ("t1", "d1"),
        "hodg": ("time", "delta"),
        "alloauto": ("time", "delta"),
    }[name]
    assert "os" in loaded.endpoint_names


def test_deaths_equal_the_r_fixture_counts(drafted):
    name, path, _ = drafted
    cohort = study.read_cohort(path)
    deaths = int((cohort.endpoints["os"].status == 1).sum())
    expected = {"bmt": 81, "hodg": 26, "alloauto": 50}[name]
    assert deaths == expected
    fixture = json.loads((FIXTURES / f"ex_{name}.json").read_text())
    assert str(expected) in json.dumps(fixture)  # the count R reported is in the fixture


def test_time_unit_is_guessed_from_the_largest_time(drafted):
    name, path, _ = drafted
    assert study.load_study(path).time_unit == ("months" if name == "alloauto" else "days")


def test_every_unmapped_column_is_a_candidate_factor(drafted):
    name, path, _ = drafted
    frame = read_table(EXAMPLES / name / f"{name}.csv")
    mapped = {"id"} | {c for p in find_pairs(frame) for c in (p.time, p.event)}
    factors = {f.column for f in study.load_study(path).factors.values()}
    assert factors == {c for c in frame.columns if c not in mapped and frame[c].nunique() > 1}


def test_what_is_left_to_fill_in_is_listed_with_its_line(drafted):
    name, path, draft = drafted
    left = todo_lines(path)
    assert any("time_zero" in line for line in left) and any("title" in line for line in left)
    lines = path.read_text().splitlines()
    for entry in left:
        number = int(entry.split("line ")[1].split(":")[0])
        assert "TODO" in lines[number - 1]
    unnamed_events = {"bmt": 4, "hodg": 0, "alloauto": 0}[name]
    assert sum("name the event" in line for line in left) == unnamed_events
    assert len(draft.todo) == 2 + unnamed_events


def test_an_existing_study_file_is_never_overwritten(tmp_path):
    write_draft(EXAMPLES / "hodg" / "hodg.csv", tmp_path)
    with pytest.raises(FileExistsError, match="exists"):
        write_draft(EXAMPLES / "hodg" / "hodg.csv", tmp_path)


def test_every_guess_is_commented():
    text = draft_study(EXAMPLES / "bmt" / "bmt.csv", EXAMPLES / "bmt").text
    for key in ("  id: id", "  followup: t1", "  time_unit: days", "    group:"):
        line = next(line for line in text.splitlines() if line.startswith(key))
        assert "  # " in line, line


def test_init_then_validate_says_what_to_fill_in_then_ok(tmp_path, capsys):
    target = tmp_path / "mine"
    assert cli.main(["init", str(target), "--cohort", str(EXAMPLES / "hodg" / "hodg.csv")]) == 0
    assert "Still to fill in" in capsys.readouterr().out
    study_file = target / "study.yml"
    assert cli.main(["validate", str(study_file)]) == 2
    err = capsys.readouterr().err
    assert "line 10: time_zero" in err and "3 problem(s)" in err and "Traceback" not in err
    text = study_file.read_text()
    for todo, value in (
        ("'TODO: title of the study of hodg.csv'", "Lymphoma transplants"),
        ("[TODO]", "[Me]"),
        ("'TODO: what day 0 is, e.g. day of stem-cell infusion'", "day of transplant"),
    ):
        text = text.replace(todo, value)
    study_file.write_text(text)
    assert cli.main(["validate", str(study_file)]) == 0
    assert "43 patients" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "file is empty (0 bytes)"),
        (b"\x00\x01\x02binary", "not a text file (binary data)"),
        (b"PK\x03\x04not a zip", "it is a ZIP archive"),
        (b'[{"patient_id": "P1", "os_days": 10}]', "file is JSON, not a cohort table"),
        ("patient_id,os_days\nP1,10\n".encode("utf-16"), "file is UTF-16 text"),
    ],
)
def test_init_on_an_unreadable_file_exits_2_without_traceback(tmp_path, capsys, content, said):
    """The drafter names a file that is not a table as validate does (contract.file_kind), in one line."""
    bad = tmp_path / ("bad.xlsx" if content.startswith(b"PK") else "bad.csv")
    bad.write_bytes(content)
    status = cli.main(["init", str(tmp_path / "out"), "--cohort", str(bad)])
    err = capsys.readouterr().err
    assert status == 2 and said in err and "Traceback" not in err
    assert err.count("\n") == 1 and not (tmp_path / "out" / "study.yml").exists()


def test_a_workbook_named_csv_is_drafted_as_a_workbook(tmp_path, capsys):
    """Saved from Excel with the wrong extension: read as the workbook it is, as validate reads it."""
    frame = pd.read_csv(EXAMPLES / "hodg" / "hodg.csv")
    misnamed = tmp_path / "hodg.csv"
    frame.to_excel(misnamed, index=False, engine="openpyxl")
    assert cli.main(["init", str(tmp_path / "out"), "--cohort", str(misnamed)]) == 0
    text = (tmp_path / "out" / "study.yml").read_text()
    for column in frame.columns:
        assert column in text


def test_r_na_cells_are_missing_and_text_columns_do_not_stop_the_draft(tmp_path):
    # R's write.csv writes a missing time as NA (the study file's default not_applicable); a free-text
    # column with many values cannot be cut at a median.
    rows = ["id,futime,death,txtime,site"] + [
        f"{i},{100 + 7 * i},{i % 2},{'NA' if i % 3 else 50 + i},{'abcdefgh'[i % 8]}" for i in range(1, 41)
    ]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    frame = read_table(tmp_path / "r.csv")
    assert frame["txtime"].isna().sum() == 27 and frame["txtime"].max() == 89
    draft = draft_study(tmp_path / "r.csv", tmp_path)
    factors = yaml.safe_load(draft.text).get("risk_factors", {}).get("factors", {})
    assert "site" not in factors and "txtime" not in factors  # txtime: the day of an event, not a factor
    assert any("'site' holds 8 different texts" in line for line in draft.todo)
    assert any("'txtime' looks like the day of an event" in line for line in draft.todo)


def test_a_day_column_empty_for_patients_without_the_event_is_an_event(tmp_path, capsys):
    """survival::myeloid records relapse as ``rltime``, the day of relapse, NA for those who did not relapse:
    the draft maps it to relapse in the ``days`` form (so LFS, relapse and NRM are drafted), leaves an unnamed
    day column (``crtime``) to the user, and offers neither as a factor; a column with a day for everyone
    (``futime``) or named like nothing of the kind (``dose``, with missing values) is not taken for one."""
    rows = ["id,trt,futime,death,crtime,rltime,dose"]
    for i in range(1, 61):
        futime = 200 + 13 * i
        relapse = 40 + 2 * i if i % 4 == 0 else "NA"
        cr = 20 + i if i % 5 else "NA"
        rows.append(f"{i},{'AB'[i % 2]},{futime},{int(i % 3 == 0)},{cr},{relapse},{'NA' if i % 7 == 0 else i % 9}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    target, draft = write_draft(tmp_path / "m.csv", tmp_path / "s")
    drafted = yaml.safe_load(target.read_text())
    assert drafted["cohort"]["events"] == {"relapse": {"days": "rltime"}}
    assert {"os", "lfs", "relapse", "nrm"} <= set(drafted["endpoints"]["standard"])
    assert "holds a day for 15 of 60 patients" in target.read_text()  # the guess is commented
    assert any("'crtime' looks like the day of an event" in line for line in draft.todo)
    factors = drafted["risk_factors"]["factors"]
    assert {"trt", "dose"} <= set(factors) and not {"rltime", "crtime"} & set(factors)
    assert study.check(target) == []
    cohort = study.read_cohort(target)
    assert int((cohort.endpoints["relapse"].status == 1).sum()) == 15


def test_a_file_without_an_id_column_drafts_validates_and_names_patients_by_line(tmp_path, capsys):
    # survival::transplant has no identifier: a patient is its line in the file
    rows = ["age,futime,death"] + [f"{30 + i % 20},{10 * i},{i % 3 == 0:d}" for i in range(1, 31)]
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    target, draft = write_draft(tmp_path / "w.csv", tmp_path / "s")
    assert "id:" not in target.read_text() and not any("cohort.id" in t for t in draft.todo)
    assert "\n  time_zero: " in target.read_text()  # the cohort section is one key a line
    text = target.read_text().replace("'TODO: title of the study of w.csv'", "W").replace("[TODO]", "[Me]")
    target.write_text(text.replace("'TODO: what day 0 is, e.g. day of stem-cell infusion'", "listing"))
    assert cli.main(["validate", str(target)]) == 0
    assert "30 patients" in capsys.readouterr().out
    assert list(study.read_cohort(target).ids[:2]) == ["2", "3"]
    rows[7] = "41,ten,0"
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    assert cli.main(["validate", str(target)]) == 2
    err = capsys.readouterr().err
    assert "line 8" in err and "futime" in err and "is not a number" in err and "Traceback" not in err


def test_the_draft_asks_for_the_multivariable_step(drafted):
    # without the section the multivariable page only says it was not requested
    name, path, _ = drafted
    mv = study.load_study(path).multivariable
    assert mv is not None and mv.screening_p == 0.1 and mv.models == ("fine_gray",)


def test_a_code_missing_on_many_rows_is_printed_once_with_its_count(tmp_path, capsys):
    # a dead code left out of the study file made validate print one line per patient (326 for survival::myeloid)
    rows = ["id,fu,dead"] + [f"{i},{10 * i},{i % 2}" for i in range(1, 41)]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "study.yml").write_text(
        "title: T\ncohort: {file: c.csv, time_unit: days, time_zero: day 0, id: id, followup: fu,\n"
        "  dead: {column: dead, codes: {1: dead, 2: alive}}}\nendpoints: {standard: [os]}\n"
    )
    assert cli.main(["validate", str(tmp_path / "study.yml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "c.csv, line 3 (patient 2), column dead: '0' is not a code listed in cohort.dead.codes (1, 2)"
    assert len(err) == 5 and err[1].startswith("c.csv, line 5 (patient 4)") and err[2].startswith("c.csv, line 7")
    assert err[3] == (
        "c.csv, column dead: the same on 17 more line(s) (9, 11, 13, 15, 17, 19, 21, 23, 25, 27, ...):"
        " '0' is not a code listed in cohort.dead.codes (1, 2)"
    )
    assert err[4].startswith("20 problem(s) found")


def test_a_status_column_of_words_is_the_vital_status_and_its_other_codes_competing_endpoints(tmp_path, capsys):
    """survival::transplant's shape: futime and event in {censored, death, ltx, withdraw}. The status is the
    vital status (death = dead, the rest alive when last seen), not a factor; ltx and withdraw each become a
    custom endpoint with death competing, to be named. Filled in, the draft validates."""
    rows = ["futime,event,age", "400,death,50", "30,ltx,41", "700,censored,62", "90,withdraw,38"]
    rows += [f"{100 + 7 * k},{['death', 'censored', 'ltx'][k % 3]},{30 + k}" for k in range(40)]
    path = tmp_path / "transplant.csv"
    path.write_text("\n".join(rows) + "\n")
    draft = draft_study(path, tmp_path)
    study_dict = yaml.safe_load(draft.text)
    assert study_dict["cohort"]["followup"] == "futime"
    assert study_dict["cohort"]["dead"] == {
        "column": "event",
        "codes": {"censored": "alive", "death": "dead", "ltx": "alive", "withdraw": "alive"},
    }
    assert "event" not in study_dict["risk_factors"]["factors"]
    ltx = study_dict["endpoints"]["custom"]["event_ltx"]
    # every other code of the column is named: a slip in it stops the build (study.CustomEndpoint.censored)
    assert ltx["event"] == {"column": "event", "codes": ["ltx"], "censored": ["censored", "withdraw"]}
    assert ltx["competing"] == [{"label": "death", "column": "event", "codes": ["death"]}]
    assert any("event_withdraw" in item for item in draft.todo)
    # withdrawal read as censored for the liver-transplant endpoint is a choice the draft hands to the user
    assert any(item.startswith("endpoints.custom.event_ltx: 'withdraw' read as censored") for item in draft.todo)
    target = tmp_path / "study.yml"
    text = draft.text.replace("'TODO: name the event coded ''ltx'' in event'", "liver transplant")
    text = text.replace("'TODO: name the event coded ''withdraw'' in event'", "withdrawal")
    text = text.replace("title: 'TODO: title of the study of transplant.csv'", "title: Waiting list")
    text = text.replace("authors: [TODO]", "authors: [Test]")
    text = text.replace("time_zero: 'TODO: what day 0 is, e.g. day of stem-cell infusion'", "time_zero: listing")
    target.write_text(text)
    assert cli.main(["validate", str(target)]) == 0, capsys.readouterr()


def test_words_that_do_not_say_who_died_are_not_a_status():
    frame = pd.DataFrame({"futime": range(10, 40), "arm": ["a", "b", "c"] * 10})
    assert [p.event for p in find_pairs(frame)] == []


def test_a_workbook_formula_without_its_result_stops_the_draft(tmp_path, capsys):
    """Read for values the cell would be empty and the draft would guess from a hole: named as validate names it."""
    openpyxl = pytest.importorskip("openpyxl")
    frame = pd.read_csv(EXAMPLES / "hodg" / "hodg.csv")
    book = openpyxl.Workbook()
    book.active.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        book.active.append([v.item() if hasattr(v, "item") else v for v in row])
    book.active.cell(row=3, column=2, value="=1+1")
    path = tmp_path / "hodg.xlsx"
    book.save(path)
    assert cli.main(["init", str(tmp_path / "out"), "--cohort", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"line 3, column {frame.columns[1]}: holds a formula (=1+1)" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "study.yml").exists()


def test_init_reads_the_named_sheet_of_a_workbook(tmp_path, capsys):
    """A registry workbook with its codebook first and its data second: without --sheet the draft reads the first
    sheet and says there are others; with --sheet data it reads the data and writes cohort.sheet, and the filled-in
    draft validates; an unknown sheet is an error naming the sheets; --sheet without --cohort is an error."""
    openpyxl = pytest.importorskip("openpyxl")
    frame = pd.read_csv(EXAMPLES / "hodg" / "hodg.csv")
    book = openpyxl.Workbook()
    book.active.title = "codebook"
    book.active.append(["column", "meaning"])
    book.active.append(["delta", "1 = death or relapse"])
    data = book.create_sheet("data")
    data.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        data.append([v.item() if hasattr(v, "item") else v for v in row])
    path = tmp_path / "registry.xlsx"
    book.save(path)

    first = draft_study(path, tmp_path)
    assert any(
        item.startswith("cohort.sheet: the workbook has 2 sheets and its first, 'codebook', was read")
        for item in first.todo
    )
    assert cli.main(["init", str(tmp_path / "out"), "--cohort", str(path), "--sheet", "data"]) == 0
    written = (tmp_path / "out" / "study.yml").read_text()
    study_dict = yaml.safe_load(written)
    assert study_dict["cohort"]["sheet"] == "data" and study_dict["cohort"]["followup"] == "time"
    assert not any("cohort.sheet" in item for item in draft_study(path, tmp_path, "data").todo)
    text = written.replace("title: 'TODO: title of the study of registry.xlsx'", "title: Lymphoma")
    text = text.replace("authors: [TODO]", "authors: [Test]")
    text = text.replace("time_zero: 'TODO: what day 0 is, e.g. day of stem-cell infusion'", "time_zero: transplant")
    (tmp_path / "out" / "study.yml").write_text(text)
    capsys.readouterr()
    assert cli.main(["validate", str(tmp_path / "out" / "study.yml")]) == 0, capsys.readouterr()

    assert cli.main(["init", str(tmp_path / "o2"), "--cohort", str(path), "--sheet", "Data"]) == 2
    assert "has no sheet 'Data'; its sheets: 'codebook', 'data'" in capsys.readouterr().err
    assert cli.main(["init", str(tmp_path / "o3"), "--sheet", "data"]) == 1
    assert "give --cohort too" in capsys.readouterr().err
    (tmp_path / "out" / "study.yml").write_text(text.replace("sheet: data", "sheet: Data"))
    assert cli.main(["validate", str(tmp_path / "out" / "study.yml")]) != 0
    assert "registry.xlsx has no sheet 'Data'; its sheets: 'codebook', 'data'" in capsys.readouterr().err


def test_init_names_the_sheet_in_what_it_cannot_read(tmp_path, capsys):
    """A sheet whose name ends in a space round-trips through init and validate; an empty sheet, a first sheet that
    is not a table, --sheet on a CSV and a formula without its result on the named sheet each give one line that
    names the sheet, with no exception's name."""
    openpyxl = pytest.importorskip("openpyxl")
    frame = pd.read_csv(EXAMPLES / "hodg" / "hodg.csv")
    book = openpyxl.Workbook()
    book.active.title = "Read me"
    book.active.append(["see the data sheet"])
    data = book.create_sheet("Données 2024 ")
    data.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        data.append([v.item() if hasattr(v, "item") else v for v in row])
    book.create_sheet("Empty")
    formula = book.create_sheet("formula")
    formula.append(list(frame.columns))
    formula.append(
        [f"=1+{k}" if k == 1 else v.item() if hasattr(v, "item") else v for k, v in enumerate(frame.iloc[0])]
    )
    path = tmp_path / "multi.xlsx"
    book.save(path)

    assert cli.main(["init", str(tmp_path / "d"), "--cohort", str(path), "--sheet", "Données 2024 "]) == 0
    text = (tmp_path / "d" / "study.yml").read_text()
    assert "sheet: 'Données 2024 '" in text
    text = text.replace("title: 'TODO: title of the study of multi.xlsx'", "title: T").replace(
        "authors: [TODO]", "authors: [A]"
    )
    text = text.replace("time_zero: 'TODO: what day 0 is, e.g. day of stem-cell infusion'", "time_zero: transplant")
    (tmp_path / "d" / "study.yml").write_text(text)
    capsys.readouterr()
    assert cli.main(["validate", str(tmp_path / "d" / "study.yml")]) == 0, capsys.readouterr()
    cases = {
        ("--sheet", "Empty"): "multi.xlsx: its sheet 'Empty' has 0 column(s) and 0 row(s)",
        (): "its sheet 'Read me' has 1 column(s) and 0 row(s); a cohort table has one row per patient and several "
        "columns; the workbook's other sheets: 'Données 2024 ', 'Empty', 'formula' (give --sheet NAME)",
        (
            "--sheet",
            "formula",
        ): f"multi.xlsx: sheet 'formula', line 2, column {frame.columns[1]}: holds a formula (=1+1)",
    }
    for k, (extra, expected) in enumerate(cases.items()):
        assert cli.main(["init", str(tmp_path / f"o{k}"), "--cohort", str(path), *extra]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Error" not in err, err
    assert cli.main(["init", str(tmp_path / "c"), "--cohort", str(EXAMPLES / "hodg" / "hodg.csv"), "--sheet", "x"]) == 2
    assert "hodg.csv: is not an Excel workbook (.xlsx): --sheet names a sheet of a workbook" in capsys.readouterr().err
    for sheet, expected in (
        ("Empty", "cohort.sheet: multi.xlsx, sheet 'Empty' is empty: no column names"),
        ("formula", f"multi.xlsx, line 2, column {frame.columns[1]}: holds a formula (=1+1)"),
    ):
        (tmp_path / "d" / "study.yml").write_text(text.replace("sheet: 'Données 2024 '", f"sheet: {sheet}"))
        assert cli.main(["validate", str(tmp_path / "d" / "study.yml")]) != 0
        assert expected in capsys.readouterr().err
