"""Every chapter and methods page links the first use of each glossary term it uses (issue 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hsct_analysis.book import glossary

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(ROOT.glob("notebooks/0[1-9]*.ipynb")) + sorted(
    p for p in ROOT.glob("notebooks/methods/*.ipynb") if p.stem != "glossary"
)


def _markdown(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def _glossary_titles() -> set[str]:
    text = "\n".join(_markdown(ROOT / "notebooks" / "methods" / "glossary.ipynb"))
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return {line.strip() for line in block.splitlines() if line and not line.startswith(" ")}


def test_every_linked_term_is_a_glossary_entry():
    assert set(glossary.TERMS) <= _glossary_titles()


def test_pages_link_the_first_use_of_each_glossary_term():
    missing = {p.relative_to(ROOT).as_posix(): glossary.unlinked_first_uses(_markdown(p)) for p in PAGES}
    assert {page: terms for page, terms in missing.items() if terms} == {}
    linked = sum(len(re.findall(r"\{term\}`", "\n".join(_markdown(p)))) for p in PAGES)
    assert linked >= 2 * len(PAGES)


def test_the_linker_skips_code_headings_and_roles_and_links_once():
    cells = ["# LFS and OS\n\nThe `LFS` column; {cite}`x` then LFS, OS and LFS again.", "LFS later."]
    linked = glossary.link_first_uses(cells)
    assert linked[0] == "# LFS and OS\n\nThe `LFS` column; {cite}`x` then {term}`LFS`, {term}`OS` and LFS again."
    assert linked[1] == "LFS later."
    assert glossary.unlinked_first_uses(linked) == []
    assert glossary.unlinked_first_uses(cells) == ["LFS", "OS"]
    assert glossary.link_first_uses(["Kaplan-Meier curves"]) == ["{term}`Kaplan-Meier <Kaplan-Meier estimator>` curves"]
