"""Privacy of a book built on a user's cohort: no patient id, no per-patient listing, small cells masked.

The cohort is ``tests/data/own/small_n30.csv`` (30 patients whose ids are the recognisable ``ZQXPATIENT0001``...),
copied under a recognisable folder name. The book is built once with ``hsct-book build --min-cell 5``; then
EVERY .html, .js, .ipynb, .txt and .json file of the output (and the executed-chapter cache) is scanned for the ids
and for the folder holding the CSV, and the count tables are checked for counts of 1-4 shown as "n (%)".
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from book_runs import build_args, hsct_book
from hsct_analysis.book import baseline, build
from hsct_analysis.cohort import load_cohort

ROOT = build.PROJECT_ROOT
SOURCE = Path(__file__).resolve().parent / "data" / "own" / "small_n30.csv"
MIN_CELL = 5
SCANNED = {".html", ".js", ".ipynb", ".txt", ".json"}
SMALL_N_PERCENT = re.compile(r"^\s*[1-4] \(\d+(?:\.\d+)?%\)\s*$")  # "3 (10.0%)": a count of 1-4 shown


@pytest.fixture(scope="module")
def private_book(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("zqxsecretfolder")
    cohort = folder / "small_n30.csv"
    shutil.copyfile(SOURCE, cohort)
    out = tmp_path_factory.mktemp("shared") / "html"
    result = hsct_book(*build_args(cohort, out, None, "--min-cell", str(MIN_CELL), "--jobs", "2"))
    assert result.returncode == 0, result.stdout + result.stderr
    ids = list(load_cohort(cohort)["patient_id"])
    return {"out": out, "ids": ids, "folder": str(folder), "stdout": result.stdout + result.stderr}


def scanned_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SCANNED)


def table_cells(html: str) -> list[str]:
    """Text of every table cell of an HTML page."""
    cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", html, re.S)
    return [re.sub(r"<[^>]+>", "", c).replace("&lt;", "<").strip() for c in cells]


def test_ids_are_recognisable():
    ids = list(pd.read_csv(SOURCE, dtype=str)["patient_id"])
    assert len(ids) == 30 and all(re.fullmatch(r"ZQXPATIENT\d{4}", i) for i in ids)


@pytest.mark.slow
def test_no_patient_id_in_any_output_file(private_book):
    files = scanned_files(private_book["out"])
    assert len(files) >= 40  # pages, sources, search index, scripts
    assert {p.suffix for p in files} >= {".html", ".js", ".ipynb", ".txt"}
    leaks = {
        p.relative_to(private_book["out"]).as_posix()
        for p in files
        for text in [p.read_text(encoding="utf-8", errors="replace")]
        if "ZQXPATIENT" in text
    }
    assert leaks == set()
    for pid in private_book["ids"]:  # each full id, also in any other casing
        assert not any(pid.lower() in p.read_text(encoding="utf-8", errors="replace").lower() for p in files)
    assert "ZQXPATIENT" not in private_book["stdout"]


@pytest.mark.slow
def test_no_id_in_the_executed_chapter_cache(private_book):
    cached = sorted((ROOT / ".cache" / "executed").glob("*.ipynb"))
    assert cached
    assert [p.name for p in cached if "ZQXPATIENT" in p.read_text(encoding="utf-8", errors="replace")] == []


@pytest.mark.slow
def test_the_folder_of_the_csv_is_not_written(private_book):
    files = scanned_files(private_book["out"])
    assert [p.name for p in files if private_book["folder"] in p.read_text(encoding="utf-8", errors="replace")] == []
    assert [p.name for p in files if "zqxsecretfolder" in p.read_text(encoding="utf-8", errors="replace")] == []


@pytest.mark.slow
def test_no_table_lists_patients(private_book):
    """No table of any page has one row per patient (30 body rows, with or without ids)."""
    sizes = []
    for page in (private_book["out"] / "book").rglob("*.html"):
        for table in re.findall(r"<table\b.*?</table>", page.read_text(encoding="utf-8"), re.S):
            body = re.search(r"<tbody\b.*?</tbody>", table, re.S)
            sizes.append((page.name, len(re.findall(r"<tr\b", body[0] if body else table))))
    assert len(sizes) >= 20
    assert [(name, rows) for name, rows in sizes if rows == len(private_book["ids"])] == []


@pytest.mark.slow
def test_small_counts_are_masked_in_the_cohort_tables(private_book):
    html = (private_book["out"] / "book" / "01_cohort.html").read_text(encoding="utf-8")
    cells = table_cells(html)
    cohort = load_cohort(SOURCE)
    unmasked = [baseline.characteristics_table(cohort, rows) for rows in (baseline.TABLE1_ROWS, baseline.TABLE2_ROWS)]
    small = sum(int(t.iloc[:, 0].astype(str).str.match(SMALL_N_PERCENT).sum()) for t in unmasked)
    assert small >= 10  # 30 patients: many levels hold 1-4 of them
    assert [c for c in cells if SMALL_N_PERCENT.match(c)] == []
    # every count of 1-4 became the marker and nothing else did (zeros stay 0: privacy.py rule 2); counts hidden
    # only so that a small one cannot be recovered from the total are marked "*", not "<5"
    assert cells.count(f"<{MIN_CELL}") == small


@pytest.mark.slow
def test_no_small_n_percent_on_any_page(private_book):
    pages = sorted((private_book["out"] / "book").rglob("*.html"))
    shown = {p.name: [c for c in table_cells(p.read_text(encoding="utf-8")) if SMALL_N_PERCENT.match(c)] for p in pages}
    assert {name: cells for name, cells in shown.items() if cells} == {}
    deaths = table_cells((private_book["out"] / "book" / "04_infections_deaths.html").read_text(encoding="utf-8"))
    causes = load_cohort(SOURCE)["cause_of_death"].dropna().astype(str).value_counts()  # causes that occur
    assert (causes < MIN_CELL).sum() >= 1 and deaths.count(f"<{MIN_CELL}") >= int((causes < MIN_CELL).sum())


# --- figures: tested on the figure functions themselves (no build needed) ---------------------------------------

SMALL = re.compile(r"^[1-4]$")  # a count of 1-4 drawn as a number


def at_risk_texts(fig) -> list[str]:
    return [a.get_text() for ax in fig.axes for a in ax.texts if (a.get_gid() or "").startswith("at_risk:")]


def book_curve_figures(cohort: pd.DataFrame, min_cell: int | None) -> list:
    """Every kind of curve figure the book draws from a cohort, by the functions its chapters call: each endpoint alone
    (chapters 2-5) and each endpoint by the 90-day interval (chapter 5)."""
    from hsct_analysis.book import report
    from hsct_analysis.cohort import endpoints

    figs = []
    for name in endpoints.ENDPOINTS:
        if endpoints.is_available(cohort, name):
            figs.append(report.curves_figure(cohort, [name], min_cell=min_cell))
            figs.append(report.curves_by_figure(cohort, name, "cart_interval_90", min_cell=min_cell))
    return figs


def with_late_transplants(tmp_path: Path, n_late: int) -> pd.DataFrame:
    """The test cohort with the CAR-T to second HSCT interval of its longest-interval patients raised to at least 91
    days, so that the > 90 days group holds ``n_late`` patients."""
    raw = pd.read_csv(SOURCE)
    late = raw["days_cart_to_second_hsct"].nlargest(n_late).index
    raw.loc[late, "days_cart_to_second_hsct"] = raw.loc[late, "days_cart_to_second_hsct"].clip(lower=91)
    raw.to_csv(tmp_path / "late.csv", index=False)
    return load_cohort(tmp_path / "late.csv")


def masked_risk_tables(unmasked: list, masked: list) -> tuple[list[str], list[str]]:
    """The numbers at risk of every figure drawn in both runs: (as drawn without a minimum, as drawn with MIN_CELL)."""
    from hsct_analysis.book.text import Text

    drawn = [k for k, fig in enumerate(masked) if not isinstance(fig, Text)]
    plain = [t for k in drawn for t in at_risk_texts(unmasked[k])]
    shown = [t for k in drawn for t in at_risk_texts(masked[k])]
    return plain, shown


def assert_masked(plain: list[str], shown: list[str]) -> None:
    assert len(shown) == len(plain)
    assert [t for t in shown if SMALL.match(t)] == []
    assert shown.count(f"<{MIN_CELL}") == sum(bool(SMALL.match(t)) for t in plain)  # each 1-4 became the marker
    assert shown.count("0") == plain.count("0")  # zeros are shown as 0 (privacy rule 2)


def test_a_curve_of_fewer_than_min_cell_patients_withholds_its_figure():
    from hsct_analysis.book.text import Text

    cohort = load_cohort(SOURCE)
    unmasked = book_curve_figures(cohort, None)
    masked = book_curve_figures(cohort, MIN_CELL)
    withheld = [k for k, fig in enumerate(masked) if isinstance(fig, Text)]
    # 30 patients, 3 with a >90-day interval: every figure by the interval is withheld, and only those
    assert withheld == list(range(1, len(masked), 2)) and not any(isinstance(fig, Text) for fig in unmasked)
    assert all(f"fewer than {MIN_CELL} patients" in masked[k] for k in withheld)
    plain, shown = masked_risk_tables(unmasked, masked)
    assert len(plain) >= 50 and sum(bool(SMALL.match(t)) for t in plain) >= 5  # the whole cohort's tables run low
    assert_masked(plain, shown)


def test_no_number_at_risk_of_1_to_4_in_any_curve_figure(tmp_path):
    """With 8 patients in the > 90 days group every figure is drawn, the group's risk table too: its 1-4 are masked."""
    from hsct_analysis.book.text import Text

    cohort = with_late_transplants(tmp_path, 8)
    masked = book_curve_figures(cohort, MIN_CELL)
    assert not any(isinstance(fig, Text) for fig in masked)
    plain, shown = masked_risk_tables(book_curve_figures(cohort, None), masked)
    assert len(plain) >= 100 and sum(bool(SMALL.match(t)) for t in plain) >= 10
    assert_masked(plain, shown)


def test_bar_labels_below_min_cell_are_masked():
    from hsct_analysis.book import figures

    cohort = load_cohort(SOURCE)
    grades = {"CRS": cohort["crs_grade"], "ICANS": cohort["icans_grade"]}
    shown = [t.get_text() for t in figures.plot_grades(grades, min_cell=MIN_CELL).axes[0].texts]
    plain = [t.get_text() for t in figures.plot_grades(grades).axes[0].texts]
    assert sum(bool(re.fullmatch(r"[0-4]", t)) for t in plain) >= 4
    assert [t for t in shown if re.fullmatch(r"[1-4]", t)] == []
    assert shown.count(f"<{MIN_CELL}") == sum(bool(re.fullmatch(r"[1-4]", t)) for t in plain)
    fig = figures.plot_interval_distribution(cohort["days_cart_to_second_hsct"], cuts=(60, 90), min_cell=MIN_CELL)
    labels = [t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("cut_label:")]
    late = int((cohort["days_cart_to_second_hsct"] > 90).sum())
    assert 0 < late < MIN_CELL and labels[1].endswith(f">90 d: <{MIN_CELL}")
    assert [a for a in fig.axes[0].get_children() if a.get_gid() == "strip"] == []  # no tick per patient


# --- the built pages: no listing of individual days, methods pages masked ----------------------------------------


def day_listing(table: str) -> int:
    """Body rows of an HTML table whose row header is a distinct number that is not just a row counter (0, 1, 2, ...):
    the shape of a curve frame listing its event and censoring days."""
    body = re.search(r"<tbody\b.*?</tbody>", table, re.S)
    rows = re.findall(r"<tr\b.*?</tr>", body[0] if body else table, re.S)
    first = [
        re.sub(r"<[^>]+>", "", (re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", r, re.S) or [""])[0]).strip() for r in rows
    ]
    numbers = [float(x) for x in first if re.fullmatch(r"-?\d+(?:\.\d+)?", x)]
    if len(set(numbers)) < len(numbers) or numbers in (
        [float(i) for i in range(len(numbers))],
        [float(i) for i in range(1, len(numbers) + 1)],
    ):
        return 0
    return len(numbers)


def test_day_listing_detector_on_a_curve_frame():
    from hsct_analysis.stats import survival

    cohort = load_cohort(SOURCE)
    frame = survival.kaplan_meier(cohort["os_time"], cohort["os_event"])
    assert day_listing(frame.to_html()) == len(frame) > 15  # the curve's own rows: caught
    assert day_listing(frame.reset_index().to_html()) == 0  # a row counter is not a day


@pytest.mark.slow
def test_no_page_lists_individual_days(private_book):
    listings = {}
    for page in (private_book["out"] / "book").rglob("*.html"):
        for table in re.findall(r"<table\b.*?</table>", page.read_text(encoding="utf-8"), re.S):
            if day_listing(table) > 15:
                listings.setdefault(page.name, []).append(day_listing(table))
    assert listings == {}


@pytest.mark.slow
def test_methods_pages_run_on_the_synthetic_cohort_and_say_so(private_book):
    """In a book on a user's cohort the methods pages run on the synthetic cohort they teach with (their exercises
    need the paper's groups, which a user's cohort may lack), say so at the top, and still apply --min-cell."""
    methods = {p.stem: p.read_text(encoding="utf-8") for p in (private_book["out"] / "book" / "methods").glob("*.html")}
    assert len(methods) >= 9
    assert [name for name, html in methods.items() if "This page runs on the synthetic cohort" not in html] == []
    assert [name for name, html in methods.items() if "Your cohort" in html] == []
    assert [c for name in methods for c in table_cells(methods[name]) if SMALL_N_PERCENT.match(c)] == []


@pytest.mark.slow
def test_continuous_values_as_median_iqr_with_a_footnote(private_book):
    html = (private_book["out"] / "book" / "01_cohort.html").read_text(encoding="utf-8")
    cells = table_cells(html)
    assert cells.count("median (IQR)") == 5 and "median (range)" not in cells  # 2 ages in Table 1/2, 3 doses
    assert "Median (IQR), days" in cells
    assert "instead of median (range)" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    from hsct_analysis.book import tables

    age = load_cohort(SOURCE)["age_first_hsct"]
    assert tables.format_median_iqr(age) in cells  # median (quartiles) of the age at first HSCT
    assert tables.format_median_range(age) not in cells  # never the youngest and oldest patients' ages


@pytest.fixture(scope="module")
def bundled_private_report():
    from hsct_analysis.book.report import Report

    return Report(str(ROOT / "data" / "cohort.csv"), True, MIN_CELL)


def test_a_masked_count_gets_no_match_mark_beside_the_papers(bundled_private_report):
    """With --min-cell on the bundled cohort, Table 1 keeps the paper's printed counts (they are published), but a
    masked count of ours gets no ✓ or ✗: "<5" with ✓ beside the paper's "2 (2.1%)" would give the 2 back."""
    report = bundled_private_report
    table = baseline.characteristics_table(report.cohort, baseline.TABLE1_ROWS, report.card, "t1.", MIN_CELL)
    ours, marks = table.iloc[:, 0].astype(str), table["Count matches"]
    masked = ours.str.startswith("<") | ours.eq("*")
    assert masked.sum() > 10
    assert (marks[masked] == "").all()
    assert (marks[~masked] == "✓").sum() > 15  # the counts shown keep their marks


def test_the_paper_comparison_leaves_out_counts_percentages_and_ranges(bundled_private_report):
    """With --min-cell, a comparison with the paper shows no count, percentage or range of ours (CRS grades; a
    range's ends are single patients' values), and says so where nothing else is left."""
    from hsct_analysis.book.report import COMPARISON_HIDDEN, Report

    report = bundled_private_report
    crs = report.paper(variable=["crs_after_cart", "crs_grade", "icans_grade"])
    assert crs == COMPARISON_HIDDEN and crs._repr_markdown_() == COMPARISON_HIDDEN
    full = Report(str(ROOT / "data" / "cohort.csv"), True, None)
    assert len(full.paper(variable=["crs_after_cart", "crs_grade", "icans_grade"]).frame) > 5
    for r, ranges in ((full, True), (report, False)):
        labels = r.paper(kind=["median", "range"], variable=[c for c, _ in baseline.TIMELINE]).frame["Estimate"]
        assert labels.str.endswith("median").any()
        assert labels.str.endswith("range").any() == ranges


def test_a_curve_figure_by_a_factor_few_patients_lack_is_withheld():
    """Rule 6: CAR-T source is unknown for 10 patients; at min_cell 12 the whole cohort's curve less the two groups'
    would give those 10 back (Table 1 masks them), so the figure is not drawn; at min_cell 10 it is."""
    import matplotlib.figure

    from hsct_analysis.book import report

    cohort = load_cohort(ROOT / "data" / "cohort.csv")
    text = str(report.curves_by_figure(cohort, "lfs", "cart_source", min_cell=12))
    assert "not shown with `--min-cell 12`" in text and "fewer than 12 patients have no recorded" in text
    assert isinstance(report.curves_by_figure(cohort, "lfs", "cart_source", min_cell=10), matplotlib.figure.Figure)


def _recoverable_rest(groups: pd.DataFrame, cohort: list[int], min_cell: int) -> list[tuple]:
    """What a reader of a factor's figure (``groups``: its numbers at risk as shown, masked ones as text) and of the
    whole cohort's (``cohort``) recovers. At a time whose numbers are all shown, the patients in no curve number the
    cohort's less the curves'; those known values must be 0 or at least ``min_cell`` and move by 0 or at least
    ``min_cell``. They never rise, so at a time with masked numbers theirs lies between the known ones before and
    after; where those are equal it is pinned, and a single masked number of that time is the cohort's less the
    rest. The cohort's own numbers are shown as its figure shows them: where masked, nothing is subtracted. Returns
    the offending (time, what) pairs."""
    from hsct_analysis.book import privacy

    total = privacy.suppress_cumulative(list(cohort), min_cell)
    known = {}
    for j in range(groups.shape[1]):
        column = groups.iloc[:, j].tolist()
        if not any(isinstance(v, str) for v in column + [total[j]]):
            known[j] = cohort[j] - sum(column)
    bad, last = [], None
    for j, month in enumerate(groups.columns):
        if j in known:
            rest = known[j]
            if 0 < rest < min_cell or (last is not None and 0 < abs(last - rest) < min_cell):
                bad.append((month, f"the patients in no curve: {rest}"))
            last = rest
            continue
        before = [known[i] for i in known if i < j]
        after = [known[i] for i in known if i > j]
        pinned = bool(before) and (before[-1] == (after[0] if after else 0))
        if pinned and not isinstance(total[j], str) and sum(isinstance(v, str) for v in groups.iloc[:, j]) == 1:
            bad.append((month, "one masked number beside known ones"))
    return bad


def test_numbers_at_risk_of_patients_in_no_curve_stay_hidden():
    """Rule 6: at each time the whole cohort's number at risk less the curves' is the number of patients whose factor
    is not recorded; where that is small, or a curve's own number is masked, another number of the time is masked."""
    from hsct_analysis.book import privacy

    table = pd.DataFrame([[50, 48, 44, 30], [40, 35, 30, 20]], columns=[0, 6, 12, 24])
    cohort = [100, 93, 84, 53]  # in no curve: 10, 10, 10, 3
    plain = privacy.suppress_at_risk(table, 5)
    assert plain.iloc[:, 3].tolist() == [30, 20] and plain.iloc[0, 1] == "*"  # a step of 2 in the first row
    assert _recoverable_rest(plain, cohort, 5) == [
        (6, "one masked number beside known ones"),
        (24, "the patients in no curve: 3"),
    ]
    shown = privacy.suppress_at_risk(table, 5, cohort)
    assert _recoverable_rest(shown, cohort, 5) == []
    assert shown.iloc[:, 1].tolist() == ["*", "*"] and shown.iloc[:, 3].tolist() == [30, "*"]
    assert shown.iloc[:, [0, 2]].equals(table.iloc[:, [0, 2]].astype(object))  # nothing else is masked
    assert privacy.suppress_at_risk(table, None, cohort).equals(table.astype(object))


@pytest.mark.parametrize("seed", range(40))
def test_numbers_at_risk_leave_nothing_to_subtract(seed):
    """Random running counts of 2-3 curves and of patients in none: no small count is recoverable after masking."""
    import numpy as np

    from hsct_analysis.book import privacy

    rng = np.random.default_rng(seed)
    k, times = int(rng.integers(2, 4)), 8
    start = rng.integers(5, 60, size=k + 1)
    rows = [np.maximum(0, start[i] - np.cumsum(np.r_[0, rng.integers(0, 8, size=times - 1)])) for i in range(k + 1)]
    table = pd.DataFrame(rows[:k], columns=[6 * m for m in range(times)])
    cohort = [int(v) for v in np.sum(rows, axis=0)]
    shown = privacy.suppress_at_risk(table, 5, cohort)
    if shown is None:  # no mask left could protect them: the figure shows no numbers at risk
        return
    assert _recoverable_rest(shown, cohort, 5) == []
    for r in range(k):  # each row is still a running count with no small step between shown values
        values = [v for v in shown.iloc[r] if not isinstance(v, str)]
        assert all(v == 0 or v >= 5 for v in values)
        assert all(a == b or a - b >= 5 for a, b in zip(values, values[1:]))


def test_a_figure_by_a_factor_some_patients_lack_masks_what_they_would_give_back():
    """CAR-T source is unknown for 10 patients: at min_cell 10 the figure by it is drawn, and no number at risk of
    those 10, read as the whole cohort's less the two curves', is 1 to 9 or moves by 1 to 9."""
    from hsct_analysis.book import report
    from hsct_analysis.book.figures import numbers_at_risk
    from hsct_analysis.cohort import endpoints

    cohort = load_cohort(ROOT / "data" / "cohort.csv")
    for name in ("lfs", "os", "relapse"):
        fig = report.curves_by_figure(cohort, name, "cart_source", min_cell=10)
        cells = {}
        for a in (a for ax in fig.axes for a in ax.texts if (a.get_gid() or "").startswith("at_risk:")):
            _, label, month = a.get_gid().split(":")
            text = a.get_text()
            cells.setdefault(label, {})[float(month)] = int(text) if text.isdigit() else text
        groups = pd.DataFrame(cells).T
        whole = numbers_at_risk({"all": endpoints.curve(cohort, name)}, list(groups.columns)).iloc[0].tolist()
        assert _recoverable_rest(groups, whole, 10) == [], name
        unmasked = report.curves_by_figure(cohort, name, "cart_source", min_cell=None)
        plain = {a.get_gid(): a.get_text() for ax in unmasked.axes for a in ax.texts}
        raw = pd.DataFrame(
            {lab: {m: int(plain[f"at_risk:{lab}:{m:g}"]) for m in groups.columns} for lab in groups.index}
        ).T
        assert _recoverable_rest(raw, whole, 10) != [], name  # the case arises: the masking is what prevents it


def test_numbers_at_risk_no_mask_can_protect_are_left_out(monkeypatch):
    """When the only number of a time left to mask is 0 (the patients in no curve pinned between two known values,
    beside one masked curve number), no mask helps: the figure shows a sentence instead of numbers at risk."""
    import matplotlib.figure

    from hsct_analysis.book import figures, privacy
    from hsct_analysis.cohort import endpoints

    table = pd.DataFrame([[16, 10, 4, 0, 0, 0, 0, 0], [35, 28, 21, 18, 15, 14, 9, 9]], columns=range(0, 48, 6))
    cohort = [56, 38, 25, 18, 15, 14, 9, 9]  # in no curve: 5, then 0
    assert privacy.suppress_at_risk(table, 5) is not None
    assert privacy.suppress_at_risk(table, 5, cohort) is None

    monkeypatch.setattr(privacy, "suppress_at_risk", lambda table, min_cell, cohort=None: None)
    whole = endpoints.curve(load_cohort(ROOT / "data" / "cohort.csv"), "os")
    fig = figures.plot_curves({"a": whole, "b": whole}, min_cell=5, cohort_curve=whole)
    assert isinstance(fig, matplotlib.figure.Figure)
    texts = {a.get_gid(): a.get_text() for ax in fig.axes for a in ax.texts}
    assert texts["at_risk_withheld"].startswith("Numbers at risk not shown with --min-cell 5")
    assert not any((gid or "").startswith("at_risk:") for gid in texts)
