"""Links from the chapters to the glossary: the first use of each glossary term on a page becomes a ``{term}`` role.

:data:`TERMS` maps each glossary entry (its exact title in ``notebooks/methods/glossary.ipynb``) to the words
that stand for it in prose. :func:`link_first_uses` rewrites a page's Markdown cells so that the first plain-prose
use of each term links to its entry; :func:`unlinked_first_uses` lists the terms a page uses without ever linking
them (the book's tests keep it empty). Prose means outside headings, code, roles, links, math and directive
fences.
"""

from __future__ import annotations

import re

#: Glossary entry -> the words (regular expressions, whole words) that name it in prose.
TERMS: dict[str, str] = {
    "aGVHD": r"aGVHD",
    "Aalen-Johansen estimator": r"Aalen-Johansen",
    "ATG (ATG-F, ATG-T, ATG-P)": r"ATG",
    "B-ALL": r"B-ALL",
    "BCR::ABL1": r"BCR::ABL1",
    "CAR-T": r"CAR-T",
    "Cause-specific hazard": r"[Cc]ause-specific",
    "Censoring": r"[Cc]ensor(?:ing|ed)",
    "cGVHD (limited / extensive; NIH mild / moderate / severe)": r"cGVHD",
    "CIF": r"CIF|[Cc]umulative incidence",
    "CRS": r"CRS",
    "Competing risk": r"[Cc]ompeting risks?",
    "Fine-Gray model": r"Fine-Gray",
    "Gray's test": r"Gray's test",
    "Greenwood's formula": r"Greenwood's (?:formula|variance)",
    "HCT-CI": r"HCT-CI",
    "HSCT (allo-HSCT, auto-HSCT)": r"HSCT",
    "ICANS": r"ICANS",
    "Immortal time": r"[Ii]mmortal time",
    "Kaplan-Meier estimator": r"Kaplan-Meier",
    "Landmark analysis": r"[Ll]andmark analys[ie]s",
    "LFS": r"LFS",
    "Log-rank test": r"[Ll]og-rank test",
    "MRD": r"MRD",
    "NRM": r"NRM",
    "OS": r"OS",
    "RI": r"RI",
    "Schoenfeld residuals": r"Schoenfeld residuals",
    "Subdistribution hazard": r"[Ss]ubdistribution hazards?",
    "TA-TMA": r"TA-TMA",
    "VOD / SOS": r"VOD",
}

# Spans that are not prose: code, roles with their content, Markdown links, inline and display math, bold
# markers are prose. Matched first, so that a term inside them is skipped.
_NOT_PROSE = re.compile(
    r"\{[\w:-]+\}`[^`]*`"  # a role: {cite}`x`, {glue:text}`x`, {term}`x`
    r"|```[\s\S]*?```"  # a fenced block (directive or code)
    r"|`[^`]*`"  # inline code
    r"|\[[^\]]*\]\([^)]*\)"  # a Markdown link
    r"|\$\$[\s\S]*?\$\$|\$[^$\n]+\$"  # math
    r"|^#.*$"  # a heading
    r"|^:[\w-]+:.*$",  # a directive option line
    re.M,
)
_WORD = {term: re.compile(rf"(?<![\w:/-])(?:{forms})(?![\w:-]|/\w)") for term, forms in TERMS.items()}


def _prose_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _NOT_PROSE.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _first_use(text: str, term: str) -> re.Match | None:
    for lo, hi in _prose_spans(text):
        match = _WORD[term].search(text, lo, hi)
        if match:
            return match
    return None


def _linked(text: str, term: str) -> bool:
    found = re.findall(r"\{term\}`(?:[^`<]*<([^>`]+)>|([^`]+))`", text)
    return any((explicit or plain).strip().lower() == term.lower() for explicit, plain in found)


def link_first_uses(cells: list[str]) -> list[str]:
    """The Markdown cells of one page with the first prose use of each glossary term turned into a link."""
    cells = list(cells)
    for term in TERMS:
        if any(_linked(cell, term) for cell in cells):
            continue
        for i, cell in enumerate(cells):
            match = _first_use(cell, term)
            if match:
                word = match.group(0)
                role = f"{{term}}`{word}`" if word.lower() == term.lower() else f"{{term}}`{word} <{term}>`"
                cells[i] = cell[: match.start()] + role + cell[match.end() :]
                break
    return cells


def unlinked_first_uses(cells: list[str]) -> list[str]:
    """Glossary terms a page uses in prose but never links."""
    return [
        term
        for term in TERMS
        if not any(_linked(cell, term) for cell in cells) and any(_first_use(cell, term) for cell in cells)
    ]
