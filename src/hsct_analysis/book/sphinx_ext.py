"""The book's Sphinx extension: what the HTML needs beyond Jupyter Book's own configuration.

Loaded from ``_config.yml`` (``sphinx.extra_extensions``). It

- labels the bibliography author-year ("Cao et al., 2023"), like the citations in the text, through a pybtex
  style ``hsct_author_year`` (set ``bibtex_default_style`` to it);
- prints a provenance line at the foot of every page: package version and commit, the cohort file's hash, the
  versions of the libraries that computed the numbers, and a date taken from the commit (or
  ``SOURCE_DATE_EPOCH``), never from the clock, so two builds of one commit are identical. The values come from
  the ``hsct_provenance`` config value, which ``hsct-book build`` fills in (:func:`provenance`);
- points the launch buttons (Binder, JupyterHub) at the chapter notebooks git tracks, ``notebooks/X.ipynb``,
  instead of the executed copies under ``book/`` that only exist in a build;
- loads ``static/hsct.css`` (tables that scroll in their own frame on phones, figure sizing) and
  ``static/hsct.js`` (a printed page shows the outputs folded under "Show code cell outputs"), and drops the
  second copy of a script that sphinx-thebe adds twice (it declared ``THEBE_JS_URL`` twice: a console error on
  every page).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import os
import platform
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
PROVENANCE_LIBRARIES = ("numpy", "scipy", "pandas", "lifelines", "matplotlib", "jupyter-book")


# ------------------------------------------------------------------------------------------- provenance


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_date(root: Path, environ=os.environ) -> str | None:
    """The build's date as YYYY-MM-DD: ``SOURCE_DATE_EPOCH`` if set, else the commit's date, else None."""
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC).strftime("%Y-%m-%d")
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}") from None
    stamp = _git(root, "log", "-1", "--format=%ct")
    if stamp:
        return _dt.datetime.fromtimestamp(int(stamp), tz=_dt.UTC).strftime("%Y-%m-%d")
    return None


def provenance(root: Path, cohort_path: Path, environ=os.environ) -> dict[str, str]:
    """What the footer of every page states about how the book was made (all values are text)."""
    from hsct_analysis import __version__

    commit = _git(root, "rev-parse", "--short=12", "HEAD")
    if commit and _git(root, "status", "--porcelain", "--untracked-files=no"):
        commit += " with uncommitted changes"
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "package": f"hsct-analysis {__version__}",
        "commit": commit or "not a git checkout",
        "cohort": f"{Path(cohort_path).name}, sha256 {hashlib.sha256(Path(cohort_path).read_bytes()).hexdigest()[:16]}",
        "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "date": source_date(root, environ) or "unknown",
    }


def provenance_html(values: dict[str, str]) -> str:
    """The footer paragraph (escaped)."""
    if not values:
        return ""
    e = {k: html.escape(str(v)) for k, v in values.items()}
    data = f"the cohort {e.get('cohort', '')}"
    if "study" in e:  # a study book: the study file first, then the cohort it maps
        data = f"the study file {e['study']} and its cohort {e.get('cohort', '')}"
    return (
        '<p class="hsct-provenance">Built from '
        f"{e.get('package', '')} (commit {e.get('commit', '')}) on {data}; "
        f"{e.get('libraries', '')}. Date of the source: {e.get('date', '')}.</p>"
    )


# ------------------------------------------------------------------------------------ author-year labels


def register_bibliography_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.sorting.author_year_title import SortingStyle

    class AuthorYearLabels(BaseLabelStyle):
        """ "Kaplan and Meier, 1958", "Cao et al., 2023"; a/b suffixes when two entries would share a label."""

        def format_label(self, entry) -> str:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [" ".join(p.last_names) or str(p) for p in people]
            if not names:
                who = entry.fields.get("organization") or entry.fields.get("institution") or entry.key
            elif len(names) == 1:
                who = names[0]
            elif len(names) == 2:
                who = f"{names[0]} and {names[1]}"
            else:
                who = f"{names[0]} et al."
            return f"{who}, {entry.fields.get('year', 'n.d.')}"

        def format_labels(self, sorted_entries):
            labels = [self.format_label(entry) for entry in sorted_entries]
            count, seen = Counter(labels), Counter()
            for label in labels:
                if count[label] == 1:
                    yield label
                else:
                    yield label + chr(ord("a") + seen[label])
                    seen[label] += 1

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = "hsct_author_year"
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.labels", "hsct_author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.sorting", "author_year_title", SortingStyle, force=True)
    register_plugin("pybtex.style.formatting", "hsct_author_year", AuthorYearStyle, force=True)


# ---------------------------------------------------------------------------------------- launch buttons


def notebook_for(pagename: str) -> str | None:
    """The tracked notebook behind a page: ``book/05_survival`` -> ``notebooks/05_survival.ipynb``."""
    if not pagename.startswith("book/"):
        return None
    return "notebooks/" + pagename.removeprefix("book/") + ".ipynb"


def retarget_buttons(buttons, old: str, new: str) -> None:
    """Point launch buttons (links to another site) opening ``old`` at ``new``; local downloads stay as they are."""
    for button in buttons or []:
        if isinstance(button, dict):
            url = button.get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://")) and old in url:
                button["url"] = button["url"].replace(old, new)
            retarget_buttons(button.get("buttons"), old, new)


def _page_context(app, pagename, templatename, context, doctree) -> None:
    # sphinx-thebe registers its configuration script on every read; keep one copy of each script
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None) or "", getattr(script, "attributes", {}).get("body", ""))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts
    target = notebook_for(pagename)
    if target:
        retarget_buttons(context.get("header_buttons"), f"{pagename}.ipynb", target)
    footer = provenance_html(app.config.hsct_provenance or {})
    if footer:
        context["body"] = context.get("body", "") + footer
    # The theme prints the book's title (navbar) and author (footer) as raw HTML, and escapes the title in <title>:
    # a study file's title is user text, so it becomes Markup escaped once, which both print as it was typed.
    import markupsafe  # Jinja2's, so Sphinx's: present wherever this extension runs

    for key in ("docstitle", "author"):
        if isinstance(context.get(key), str):
            context[key] = markupsafe.escape(context[key])  # Markup already (the theme's own) is left as it is


def _config_inited(app, config) -> None:
    # the figures are drawn on white; an empty mode made the theme log "Got invalid theme mode" on every page
    config.html_context = {"default_mode": "light", **(config.html_context or {})}
    config.html_static_path = list(config.html_static_path) + [str(STATIC_DIR)]


def number_per_page(app, env) -> list[str]:
    """Number figures, tables and exercises from 1 on every page (Figure 1, Exercise 1, ...).

    Sphinx numbers enumerable nodes across the whole book unless its toctree is numbered, so the power page
    opened with Exercise 15. Runs after Sphinx has assigned its numbers (``env-get-updated``, late priority)
    and renumbers each page's nodes of each kind in their order on the page; references ({numref}) read the
    same table and stay consistent.
    """
    for by_kind in env.toc_fignumbers.values():
        for kind, numbers in by_kind.items():
            order = sorted(numbers, key=lambda node_id: numbers[node_id])
            by_kind[kind] = {node_id: (i,) for i, node_id in enumerate(order, start=1)}
    return []


def setup(app):
    register_bibliography_style()
    app.add_config_value("hsct_provenance", {}, "html")
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _page_context, priority=900)
    app.connect("env-get-updated", number_per_page, priority=900)
    app.add_css_file("hsct.css")
    app.add_js_file("hsct.js")  # printing a page shows its folded outputs
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
