"""Run the book on your own cohort: three valid but unusual cohorts each build a COMPLETE book.

- (a) n = 30: a subsample of the bundled cohort with fresh ids (``tests/data/own/small_n30.csv``);
- (b) n = 2,000 from the generator with other targets (``tests/data/own/synthetic_n2000.csv.gz``, see the README
  there: deaths 25/95 and relapses 20/95 of the paper's 40 and 10, ATG split 40/40/15, not calibrated);
- (c) missing optional endpoints: no ebv_days or ptld_days column, tma_days empty
  (``tests/data/own/missing_endpoints.csv``, 60 patients).

Each book is built once per module (``hsct-book build --jobs 2`` as a user runs it) and shared by the asserts:
every toc page exists as HTML, no page shows an error, no page compares with the paper, the progress output has
one line per chapter and a total. Degenerate cohorts (a factor nobody has a value for, single levels, no deaths,
one ATG type) are checked by executing the affected chapters with papermill, which is faster than a full build.
A deliberately broken chapter in a copy of the project checks that a failure names the chapter and its cell.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from book_runs import build_args, hsct_book, project_copy, small_project
from hsct_analysis.book import build
from hsct_analysis.cohort import load_cohort

pytestmark = pytest.mark.slow  # every test here builds or runs a whole book

papermill = pytest.importorskip("papermill")

ROOT = build.PROJECT_ROOT
OWN = Path(__file__).resolve().parent / "data" / "own"
BUNDLED = ROOT / "data" / "cohort.csv"
TOC_ENTRIES = build.toc_entries(ROOT / "_toc.yml")
CHAPTERS = [e for e in TOC_ENTRIES if build.notebook_source(e, ROOT).exists()]
NO_COMPARISON = "Comparison with the paper is shown only for the bundled synthetic cohort."
NOT_AVAILABLE = "is not available for this cohort:"
ERROR_MARKS = re.compile(r"Traceback|class=\"output (?:error|traceback|stderr)|\b[A-Z]\w*(?:Error|Exception): ")


def build_book(cohort: Path, out: Path, *options: str) -> dict:
    """``hsct-book build`` on ``cohort``; the book, its stdout and the wall time in seconds."""
    start = time.perf_counter()
    result = hsct_book(*build_args(cohort, out, None, "--jobs", "2", *options))
    assert result.returncode == 0, result.stdout + result.stderr
    return {"out": out, "stdout": result.stdout, "stderr": result.stderr, "seconds": time.perf_counter() - start}


def page_text(path: Path) -> str:
    """The visible text of an HTML page (tags removed, whitespace collapsed)."""
    html = path.read_text(encoding="utf-8")
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&lt;", "<").replace("&gt;", ">")


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> dict:
    return build_book(OWN / "small_n30.csv", tmp_path_factory.mktemp("n30") / "html")


@pytest.fixture(scope="module")
def large_book(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("n2000")
    cohort = folder / "synthetic_n2000.csv"
    cohort.write_bytes(gzip.decompress((OWN / "synthetic_n2000.csv.gz").read_bytes()))
    return build_book(cohort, folder / "html")


@pytest.fixture(scope="module")
def missing_book(tmp_path_factory) -> dict:
    return build_book(OWN / "missing_endpoints.csv", tmp_path_factory.mktemp("missing") / "html")


BOOKS = {
    "small": (30, "small_n30.csv"),
    "large": (2000, "synthetic_n2000.csv"),
    "missing": (60, "missing_endpoints.csv"),
}


@pytest.fixture(params=sorted(BOOKS))
def book(request) -> tuple[dict, int, str]:
    n, name = BOOKS[request.param]
    return request.getfixturevalue(f"{request.param}_book"), n, name


def test_the_own_cohorts_are_what_they_claim(tmp_path):
    small = load_cohort(OWN / "small_n30.csv")
    (tmp_path / "large.csv").write_bytes(gzip.decompress((OWN / "synthetic_n2000.csv.gz").read_bytes()))
    large = load_cohort(tmp_path / "large.csv")
    missing = load_cohort(OWN / "missing_endpoints.csv")
    bundled_ids = set(load_cohort(BUNDLED)["patient_id"])
    assert len(small) == 30 and not set(small["patient_id"]) & bundled_ids
    assert len(large) == 2000 and 450 <= large["dead"].sum() <= 650  # target 25/95 = 26% (the paper: 42%)
    assert large["atg_type"].value_counts().to_dict() == {"ATG-F": 842, "ATG-T": 842, "ATG-P": 316}
    assert len(missing) == 60 and missing.attrs["unavailable_endpoints"] == ["ebv", "ptld", "tma"]


def test_every_toc_page_exists_as_html(book):
    """Every page of the toc but the paper comparison (the scorecard), which a book on a user's cohort leaves out;
    the links to it become plain text."""
    built, _, _ = book
    kept = [entry for entry in TOC_ENTRIES if entry not in build.PAPER_COMPARISON_PAGES]
    assert [entry for entry in kept if not (built["out"] / f"{entry}.html").exists()] == []
    assert build.PAPER_COMPARISON_PAGES and not any(
        (built["out"] / f"{entry}.html").exists() for entry in build.PAPER_COMPARISON_PAGES
    )
    assert len(CHAPTERS) >= 10
    survival = (built["out"] / "book" / "05_survival.html").read_text(encoding="utf-8")
    assert "scorecard" in page_text(built["out"] / "book" / "05_survival.html") and "08_scorecard" not in survival


def test_the_landing_page_says_whose_patients_the_book_describes(book):
    """The landing page's box names the user's cohort; the bundled book's "every patient is simulated" would be
    false here."""
    built, _, name = book
    landing = page_text(built["out"] / "book" / "index.html")
    assert f"This book was built on a user-supplied cohort ({name}): its chapters describe those patients" in landing
    assert "Every patient in this book is simulated" not in landing


def test_the_scorecard_alone_on_a_users_cohort_is_refused_with_a_reason(tmp_path):
    """``--chapter 08_scorecard`` on a user's cohort: a clear error before anything runs, not a page of "not
    computed"."""
    with pytest.raises(build.BuildError, match="compares the cohort with the paper, and a book on your own cohort"):
        build.build_book(OWN / "small_n30.csv", tmp_path / "html", chapters=["08_scorecard"], root=ROOT)
    assert not (tmp_path / "html").exists()


def test_no_page_shows_an_error(book):
    built, _, _ = book
    pages = sorted(built["out"].rglob("*.html"))
    assert len(pages) >= len(TOC_ENTRIES)
    assert [p.name for p in pages if ERROR_MARKS.search(p.read_text(encoding="utf-8"))] == []
    for executed in (built["out"] / "_sources").rglob("*.ipynb"):
        outputs = [o for c in json.loads(executed.read_text(encoding="utf-8"))["cells"] for o in c.get("outputs", [])]
        assert [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"] == [], executed.name


def test_no_comparison_with_the_paper(book):
    built, _, name = book
    pages = {
        p.relative_to(built["out"]).as_posix(): p.read_text(encoding="utf-8") for p in built["out"].rglob("*.html")
    }
    # the methods pages run on the synthetic cohort they teach with, and say so (build.TEACHING_ADMONITION)
    methods = {p for p in pages if p.startswith("book/methods/")}
    assert methods and all("This page runs on the synthetic cohort" in pages[p] for p in methods)
    chapters = {p: html for p, html in pages.items() if p not in methods}
    assert [p for p, html in chapters.items() if "Reproduced (synthetic)" in html or "hsct-comparison" in html] == []
    said = [p for p, html in pages.items() if NO_COMPARISON in html]
    assert {
        f"book/0{i}_{n}.html" for i, n in [(1, "cohort"), (5, "survival"), (6, "univariate"), (7, "multivariate")]
    } <= set(said)
    banner = build.USER_COHORT_BANNER.format(name=name)
    assert all(banner in html for p, html in pages.items() if p.startswith("book/"))
    assert [p for p, html in chapters.items() if "Every patient in this chapter is" in html] == []  # not "synthetic"
    assert not any("This page runs on the synthetic cohort" in html for html in chapters.values())


def test_about_page_counts_the_patients(book):
    built, n, _ = book
    assert f"It holds {n} patients" in page_text(built["out"] / "book" / "00_about.html")
    table = page_text(built["out"] / "book" / "01_cohort.html")
    assert f"This cohort (n={n})" in table and "Synthetic cohort (n=" not in table


def test_progress_has_one_line_per_chapter_and_a_total(book):
    """One line per chapter the book holds (the scorecard is left out on a user's cohort), then the total."""
    built, _, _ = book
    lines = built["stdout"].splitlines()
    chapters = [entry for entry in CHAPTERS if entry not in build.PAPER_COMPARISON_PAGES]
    assert not [
        line
        for line in lines
        if any(line.startswith(f"  {e.removeprefix('book/')}: ") for e in build.PAPER_COMPARISON_PAGES)
    ]
    for entry in chapters:
        name = entry.removeprefix("book/")
        mine = [line for line in lines if line.startswith(f"  {name}: ")]
        assert len(mine) == 1, (name, mine)
        assert re.fullmatch(
            rf"  {re.escape(name)}: (executed in \d+\.\d s \(elapsed \d+\.\d s\)|reused from cache.*)", mine[0]
        )
    total = re.search(r"^chapters: (\d+) executed, (\d+) reused from cache, (\d+\.\d) s$", built["stdout"], re.M)
    assert total and int(total[1]) + int(total[2]) == len(chapters)
    done = re.search(r"^book written to .*index\.html in (\d+\.\d) s$", built["stdout"], re.M)
    assert done and 0 < float(done[1]) <= built["seconds"]
    assert "Traceback" not in built["stderr"]


def test_missing_endpoints_are_said_plainly(missing_book):
    about = page_text(missing_book["out"] / "book" / "00_about.html")
    viral = page_text(missing_book["out"] / "book" / "04_infections_deaths.html")
    assert "ebv, ptld, tma" in about
    assert "EBV viremia not recorded PTLD not recorded" in viral  # incidence table rows
    assert "TA-TMA not recorded not recorded not recorded" in viral  # 100 days, 1 and 3 years
    assert "TA-TMA is not available for this cohort: the cohort does not record it." in viral
    assert "'**" not in viral  # the sentence is rendered, not printed as a quoted string
    assert "CMV viremia" in viral and "CMV viremia not recorded" not in viral


# ------------------------------------------------------------------------------------ degenerate cohorts


def degenerate(path: Path) -> Path:
    """The bundled cohort with every CAR-T source unknown (an empty factor), one MRD level, one ATG type and nobody
    dead; fresh ids."""
    frame = pd.read_csv(BUNDLED, dtype=str, keep_default_na=False)
    frame["patient_id"] = [f"DEG{i:03d}" for i in range(1, len(frame) + 1)]
    frame["cart_source"] = "unknown"
    frame["mrd_before_second_hsct"] = "negative"
    frame["atg_type"] = "ATG-T"
    frame["dead"] = "0"
    frame["cause_of_death"] = ""
    frame.to_csv(path, index=False)
    return path


def execute(name: str, cohort: Path, out_dir: Path) -> str:
    """Execute notebooks/<name>.ipynb on ``cohort`` (not bundled, min_cell 5); all text and markdown it shows."""
    out = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(out),
        cwd=str(ROOT / "notebooks"),
        parameters={"cohort_path": str(cohort), "is_bundled_cohort": False, "min_cell": 5},
        kernel_name="python3",
        progress_bar=False,
    )
    shown = []
    for cell in json.loads(out.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error"
            for key in ("text/markdown", "text/html", "text/plain"):
                value = output.get("data", {}).get(key) or (output.get("text") if key == "text/plain" else None)
                if value:
                    shown.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(shown)


@pytest.fixture(scope="module")
def degenerate_pages(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("degenerate")
    cohort = degenerate(folder / "cohort.csv")
    loaded = load_cohort(cohort)
    assert loaded["dead"].sum() == 0 and loaded["atg_type"].nunique() == 1 and loaded["cart_source"].nunique() == 1
    return {name: execute(name, cohort, folder) for name in ("01_cohort", "04_infections_deaths", "06_univariate")}


@pytest.mark.slow  # builds three methods pages and a chapter (about a minute)
def test_a_valid_cohort_without_the_papers_groups_builds_its_methods_pages(tmp_path):
    """Ten patients, none transplanted more than 90 days after CAR-T: valid, but the methods pages teach with the
    paper's > 90-day group. They run on the synthetic cohort (so they build, and say so); the chapters run on the
    ten patients (found by an adversarial pass: the build used to stop in methods/km_greenwood)."""
    frame = pd.read_csv(BUNDLED, dtype=str, keep_default_na=False)
    early = frame[frame["days_cart_to_second_hsct"].astype(float) <= 90]
    frame = pd.concat([early[early["dead"] == "1"].head(5), early[early["dead"] == "0"].head(5)])
    frame["patient_id"] = [f"TEN{i:02d}" for i in range(1, 11)]
    cohort = tmp_path / "ten.csv"
    frame.to_csv(cohort, index=False)
    assert load_cohort(cohort)["days_cart_to_second_hsct"].max() <= 90
    out = tmp_path / "site"
    chapters = ["methods/km_greenwood", "methods/comparing_groups", "methods/cutpoint", "05_survival"]
    extra = [arg for c in chapters for arg in ("--chapter", c)]
    result = hsct_book(*build_args(cohort, out, project_copy(tmp_path), *extra))
    assert result.returncode == 0, result.stdout + result.stderr
    for page in chapters[:3]:
        assert "This page runs on the synthetic cohort" in page_text(out / "book" / f"{page}.html")
    survival = page_text(out / "book" / "05_survival.html")
    assert "This page runs on the synthetic cohort" not in survival and "ten.csv" in survival
    assert "(synthetic cohort)" not in page_text(out / "book" / "05_survival.html").split("Survival, relapse", 1)[0]


def test_empty_factor_is_named_with_its_reason(degenerate_pages):
    text = degenerate_pages["06_univariate"]
    assert (
        "**The comparison by car-t cell source is not available for this cohort:** no patient has a recorded "
        "value of this factor (every value is unknown or missing)."
    ) in text
    assert text.count("only one level observed (negative): nothing to compare") == 4  # LFS, OS, RI, NRM
    assert text.count("only one level observed (ATG-T): nothing to compare") == 4
    assert text.count("no events in the compared groups: the test is undefined") >= 2  # no deaths: OS, NRM
    assert NO_COMPARISON in text and "DEG0" not in text


def test_no_deaths_gives_a_sentence_not_an_empty_table(degenerate_pages):
    text = degenerate_pages["04_infections_deaths"]
    assert (
        "**The table of cause_of_death is not available for this cohort:** no patient has a recorded cause_of_death."
    ) in text
    assert "n (%) of 0" not in text


def test_single_level_rows_in_the_cohort_table(degenerate_pages):
    text = degenerate_pages["01_cohort"]
    assert "This cohort (n=95)" in text and "Paper (Cao et al. 2023)" not in text
    assert "Reproduced (synthetic)" not in text and "hsct-comparison" not in text and NO_COMPARISON in text


# ------------------------------------------------------------------------------ a failing chapter is named

BROKEN_SOURCE = 'cohort["no_such_column"].sum()  # deliberately broken'


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory) -> Path:
    """A copy of the project with two chapters: the About chapter and a copy of 02_engraftment with one bad cell."""
    nb = json.loads((ROOT / "notebooks" / "02_engraftment.ipynb").read_text(encoding="utf-8"))
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    nb["cells"].insert(
        code[2],
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "broken0001",
            "metadata": {},
            "outputs": [],
            "source": BROKEN_SOURCE,
        },
    )
    return small_project(tmp_path_factory.mktemp("broken_project"), {"02_broken": nb})


def test_a_failing_chapter_is_named_with_its_cell(broken_project, tmp_path):
    out = tmp_path / "html"
    result = hsct_book(*build_args(OWN / "small_n30.csv", out, broken_project))
    cell = json.loads((broken_project / "notebooks" / "02_broken.ipynb").read_text())["cells"]
    position = next(i for i, c in enumerate(cell) if c.get("id") == "broken0001") + 1
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"chapter 02_broken failed in cell {position}:" in result.stderr
    assert f"    {BROKEN_SOURCE}" in result.stderr
    assert "KeyError: 'no_such_column'" in result.stderr
    assert re.search(r"^  02_broken: FAILED after \d+\.\d s$", result.stdout, re.M)
    assert not out.exists()


# ------------------------------------------------------------------- book/own_data.md, step by step


def own_data_commands() -> list[list[str]]:
    """The ``hsct-book`` commands of the page's bash blocks, split as a shell would."""
    import shlex

    text = (ROOT / "book" / "own_data.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("hsct-book ")]


def test_own_data_page_walks_init_validate_build(tmp_path):
    """The page's commands, run as written from a fresh folder: a study file drafted from a real cohort (KMsurv
    bmt as "my_data.csv"), edited (here: replaced by the finished example study), validated and built; then
    the data-contract route (template, validate, build --cohort)."""
    commands = own_data_commands()
    assert [c[1] for c in commands] == ["init", "validate", "build", "template", "validate", "build"]
    init, validate, build_, template, validate_csv, build_csv = commands

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return hsct_book(*args[1:], timeout=900, cwd=tmp_path)

    examples = ROOT / "data" / "examples" / "bmt"
    shutil.copyfile(examples / "bmt.csv", tmp_path / "my_data.csv")
    drafted = run(init)
    assert drafted.returncode == 0, drafted.stderr
    study_file = tmp_path / "my_study" / "study.yml"
    assert study_file.is_file() and "every guess is commented" in drafted.stdout
    first = run(validate)  # the draft either validates or says exactly what is left (its TODO lines)
    todo = [line for line in study_file.read_text(encoding="utf-8").splitlines() if "TODO" in line]
    assert first.returncode == (2 if todo else 0), first.stderr
    # "Edit it": the finished study of this cohort, pointed at the user's file
    finished = (examples / "study.yml").read_text(encoding="utf-8").replace("file: bmt.csv", "file: ../my_data.csv")
    study_file.write_text(finished, encoding="utf-8")
    checked = run(validate)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: my_study/study.yml is a valid study: 137 patients;")
    assert "--min-cell" in " ".join(build_)
    if (ROOT / build.STUDY_TOC).is_file():
        built = run(build_ + ["--chapter", "00_about"])  # the page's command, one chapter to keep the test short
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        assert (tmp_path / "my_book" / "index.html").exists()

    made = run(template)
    assert made.returncode == 0 and made.stdout.count("wrote ") == 2
    header = (tmp_path / "my_cohort" / "cohort_template.csv").read_text(encoding="utf-8").strip().split(",")
    own = pd.read_csv(OWN / "small_n30.csv", dtype=str, keep_default_na=False)
    filled = own.reindex(columns=header, fill_value="")  # the user's rows under the template's header
    filled.to_csv(tmp_path / "my_cohort" / "cohort.csv", index=False)
    checked = run(validate_csv)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "OK: my_cohort/cohort.csv is a valid cohort with 30 patients."
    built = run(build_csv + ["--chapter", "00_about"])
    assert built.returncode == 0, built.stdout + built.stderr
    about = page_text(tmp_path / "my_cohort_book" / "book" / "00_about.html")
    assert "Second HSCT after CAR-T, our centre" in about and "It holds 30 patients" in about
