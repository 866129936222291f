"""The study book's notebooks (notebooks/study/, toc notebooks/study/_toc.yml): their interface, and each one
executed with papermill on the bmt example (slow) with R's numbers in its output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from hsct_analysis.book import build

ROOT = Path(__file__).resolve().parents[1]
STUDY_NOTEBOOKS = ROOT / "notebooks" / "study"
TOC = STUDY_NOTEBOOKS / "_toc.yml"
CHAPTERS = ["00_about", "01_baseline", "02_endpoints", "03_univariate", "04_multivariable"]


def test_toc_lists_the_chapters_and_they_exist():
    entries = build.toc_entries(TOC)
    assert entries == [f"book/study/{name}" for name in CHAPTERS]
    for entry in entries:
        assert build.notebook_source(entry) == STUDY_NOTEBOOKS / f"{entry.removeprefix('book/study/')}.ipynb"
        assert build.notebook_source(entry).exists()
        assert build.is_report_chapter(entry)  # code hidden like the report chapters


@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_interface(name):
    nb = nbformat.read(STUDY_NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)  # committed without outputs
    first = code[0]
    assert first.metadata.tags == ["parameters"]
    assert first.source.splitlines()[0].startswith('study_path = "data/examples/bmt/study.yml"')
    assert build.declared_parameters(STUDY_NOTEBOOKS / f"{name}.ipynb") == {"study_path", "min_cell"}
    assert all("remove-input" in c.metadata.get("tags", []) for c in code[1:])
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    text = "\n".join(c.source for c in nb.cells)
    assert not re.search(r"synthetic|\bpaper\b|Cao", text, re.I)


def _outputs(nb: dict) -> list[str]:
    texts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                texts.append("ERROR " + output["ename"] + ": " + output["evalue"])
            if output["output_type"] == "stream":
                texts.append("".join(output["text"]))
            for kind in ("text/markdown", "text/html", "text/plain"):
                value = output.get("data", {}).get(kind)
                if value is not None:
                    texts.append(value if isinstance(value, str) else "".join(value))
    return texts


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    papermill = pytest.importorskip("papermill")
    out_dir = tmp_path_factory.mktemp("study-book")
    done = {}
    for name in CHAPTERS:
        out = out_dir / f"{name}.ipynb"
        papermill.execute_notebook(
            str(STUDY_NOTEBOOKS / f"{name}.ipynb"),
            str(out),
            parameters={"study_path": "data/examples/bmt/study.yml", "min_cell": None},
            cwd=str(ROOT),
            kernel_name="python3",
            progress_bar=False,
        )
        done[name] = json.loads(out.read_text(encoding="utf-8"))
    return done


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_runs_on_bmt_without_error(executed, name):
    texts = _outputs(executed[name])
    assert texts
    joined = "\n".join(texts)
    assert "ERROR" not in joined and "Traceback" not in joined
    assert not re.search(r"synthetic|\bpaper\b", joined, re.I)


@pytest.mark.slow
def test_notebooks_print_rs_numbers_on_bmt(executed):
    ref = json.loads((ROOT / "tests" / "reference" / "ex_bmt_report.json").read_text())
    about = "\n".join(_outputs(executed["00_about"]))
    assert f"**{ref['followup']['median']} days**" in about  # reverse-KM median follow-up
    baseline = "\n".join(_outputs(executed["01_baseline"]))
    assert "38 (27.7%)" in baseline  # ALL, of 137
    endpoints = "\n".join(_outputs(executed["02_endpoints"]))
    os_ = ref["endpoints"]["os"]
    assert f"{100 * os_['estimate'][0]:.1f} ({100 * os_['lower'][0]:.1f}-{100 * os_['upper'][0]:.1f})" in endpoints
    images = sum(
        "image/png" in o.get("data", {}) for c in executed["02_endpoints"]["cells"] for o in c.get("outputs", [])
    )
    assert images == len(ref["endpoints"])  # one figure per endpoint
    models = "\n".join(_outputs(executed["04_multivariable"]))
    cox = ref["multivariable"]["os"]["models"]["cox"]
    i = cox["terms"].index("fab[yes]")
    assert f"{cox['hr'][i]:.2f} ({cox['hr_lower'][i]:.2f}-{cox['hr_upper'][i]:.2f})" in models
    assert "Figure 4.1." in models and "Table 4.1." in models
