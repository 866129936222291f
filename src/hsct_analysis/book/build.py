"""Build the book: validate the cohort, execute the chapters, run Jupyter Book, swap the HTML in.

``build_book`` is what ``hsct-book build`` (and ``make book``) runs:

1. the cohort is validated first (``hsct_analysis.cohort.validate``); problems raise ``CohortError``;
2. a fresh stage folder is made next to ``out`` holding ``_config.yml``, ``_toc.yml``, ``references.bib`` and the
   prose of ``book/``; every chapter listed in ``_toc.yml`` is executed from ``notebooks/X.ipynb`` into
   ``stage/book/X.ipynb`` with papermill, in parallel worker processes;
3. executed chapters are cached in ``.cache/executed/`` under a key made of the notebook, the cohort bytes, every
   package source file and the parameters, so an unchanged chapter is never executed twice;
4. Jupyter Book builds the stage with ``-W -n --keep-going`` (any warning fails the build), and the new HTML
   replaces ``out`` by renames only: a failed build leaves the previous book in ``out`` untouched.

Expected failures raise ``BuildError`` (a failing chapter: ``NotebookError``; a Sphinx warning: ``SphinxError``),
whose message is meant for the reader of a terminal, not a traceback. Times are in seconds.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import html
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import nbformat
import yaml

from hsct_analysis.book import sphinx_ext

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CHECKOUT_ROOT = Path(__file__).resolve().parents[3]


def shipped_project() -> Path:
    """Where an installed wheel keeps the book project (``hsct_analysis/project``, copied there by setup.py)."""
    from importlib import resources

    return Path(str(resources.files("hsct_analysis").joinpath("project")))


def find_project_root() -> Path:
    """The folder holding ``_config.yml``, ``_toc.yml``, ``notebooks/``, ``book/`` and ``data/``.

    An installed wheel ships it as ``hsct_analysis/project``; a source checkout (editable install) has none and
    uses the repository itself, so edits to a notebook are built as they are.
    """
    shipped = shipped_project()
    return shipped if (shipped / "_config.yml").is_file() else CHECKOUT_ROOT


PROJECT_ROOT = find_project_root()
STAMP_NAME = ".hsct-book-build.json"
CACHE_VERSION = "3"  # bump to invalidate every cached chapter
BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib")
USER_COHORT_BANNER = "This book was built from a user-supplied cohort ({name}), not from the book's synthetic cohort."


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def escape_html(text: str) -> str:
    """User text (a file name, a title) for raw HTML such as the banner: controls shown as escapes, ``<>&"'``
    as entities, so nothing a user typed can become markup or script."""
    from hsct_analysis.cohort import contract

    return html.escape(contract.printable(str(text)), quote=True)


def escape_markdown(text: str) -> str:
    """User text for a MyST Markdown cell: every ASCII punctuation character backslash-escaped (CommonMark), so
    ``<img ...>`` is text rather than raw HTML and no role, link, fence or emphasis can start inside it."""
    from hsct_analysis.cohort import contract

    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", contract.printable(str(text)))


class BuildError(Exception):
    """An expected build failure; its message is complete and needs no traceback."""


class NotebookError(BuildError):
    """A chapter notebook failed: which one, which cell (0-based index), its source and the error."""

    def __init__(self, notebook: str, cell_index: int | None, cell_source: str, error: str, report: Path | None):
        self.notebook = notebook
        self.cell_index = cell_index
        self.cell_source = cell_source
        self.error = error
        self.report = report
        cell = "?" if cell_index is None else str(cell_index + 1)
        lines = [f"chapter {notebook} failed in cell {cell}:", ""]
        lines += ["    " + line for line in cell_source.splitlines()]
        lines += ["", error]
        if report is not None:
            lines.append(f"(the partly executed notebook is in {report})")
        super().__init__("\n".join(lines))


class SphinxError(BuildError):
    """Jupyter Book (Sphinx) reported a warning or an error; ``warnings`` holds its lines."""

    def __init__(self, warnings: list[str], log: Path | None):
        self.warnings = warnings
        self.log = log
        lines = ["Jupyter Book failed (warnings are errors in this book):"]
        lines += ["  " + w for w in warnings[:40]] or ["  (no warning line found; see the log)"]
        if len(warnings) > 40:
            lines.append(f"  ... and {len(warnings) - 40} more")
        if log is not None:
            lines.append(f"(full log: {log})")
        super().__init__("\n".join(lines))


class Interrupted(BaseException):
    """The build received SIGTERM, SIGINT or SIGHUP; ``exit_code`` is 128 + the signal number.

    A BaseException, so that no ``except Exception`` on the way swallows it: every ``finally`` runs (workers
    killed, stage removed) and the command exits with ``exit_code``.
    """

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def raise_interrupted(signum, _frame) -> None:
    raise Interrupted(signum)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so no worker or
    kernel outlives a build that was killed (even by SIGKILL). Does nothing where prctl is unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


KERNEL_START_SECONDS = 180  # how long a kernel may take to answer its first message (papermill's default: 60)
KERNEL_START_ATTEMPTS = 2  # a chapter whose kernel never answered ran no cell: it is started once more
KERNEL_NEVER_STARTED = ("Kernel didn't respond", "Kernel died before replying to kernel_info")  # jupyter_client
SOCKETS_ENV = "HSCT_KERNEL_SOCKETS"  # the folder a build's kernels make their socket folders in (set per build)
SOCKETS_PREFIX = "hsct-kernels-"  # a build's socket folder in the temporary folder: hsct-kernels-<pid>-<random>
SOCKET_PATH_BYTES = 100  # a Unix socket's path: at most 107 bytes on Linux, 103 on macOS; beyond, TCP is used


def _kernel_manager_class():
    """A Jupyter kernel manager whose kernels die with the worker that started them.

    On POSIX the kernel talks over Unix sockets in a private folder (``transport = "ipc"``), not TCP ports: a
    TCP port is chosen free and only bound later by the kernel, so two workers starting kernels at once can
    race for it, and the loser's kernel never answers. Where the temporary folder's path is too long for a socket
    (:data:`SOCKET_PATH_BYTES`), TCP it is.
    """
    from jupyter_client.manager import KernelManager

    class DyingKernelManager(KernelManager):
        def __init__(self, **kw):
            super().__init__(**kw)
            if os.name != "posix":
                return
            folder = tempfile.mkdtemp(prefix="k", dir=os.environ.get(SOCKETS_ENV))
            if len(os.fsencode(os.path.join(folder, "k-99999"))) > SOCKET_PATH_BYTES:  # a long temporary folder
                os.rmdir(folder)
                return
            self.transport = "ipc"
            self.ip = os.path.join(folder, "k")  # the sockets are k-1, k-2, ...

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw.setdefault("preexec_fn", die_with_parent)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if self.transport == "ipc" and not restart:
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    return DyingKernelManager


def kernel_never_started(exc: BaseException) -> bool:
    """True when ``exc`` says the chapter's kernel never answered, so no cell of the chapter ran."""
    return isinstance(exc, RuntimeError) and str(exc).startswith(KERNEL_NEVER_STARTED)


@dataclass(frozen=True)
class Chapter:
    """One executed page: its toc entry (``book/00_about``), source notebook and cache key."""

    entry: str
    source: Path
    parameters: dict
    key: str
    shown_cohort: str = "cohort.csv"  # how the executed copy names the cohort file (never an absolute path)

    @property
    def name(self) -> str:
        """Short name for messages, e.g. ``00_about`` or ``methods/cutpoint``."""
        return self.entry.removeprefix("book/")


# ----------------------------------------------------------------------------------------------- the toc


def toc_entries(toc_path: Path) -> list[str]:
    """Every ``file`` entry of a Jupyter Book ``_toc.yml`` (the root first), without suffix."""
    return toc_entries_of(yaml.safe_load(Path(toc_path).read_text(encoding="utf-8")))


def toc_entries_of(toc: dict) -> list[str]:
    """:func:`toc_entries` of a toc already read (e.g. one restricted by ``--chapter``)."""
    entries = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(e).with_suffix("")) if Path(e).suffix in (".md", ".ipynb") else e for e in entries]


def cache_dir(root: Path) -> Path:
    """Where executed chapters, timings and logs are kept: ``root/.cache`` for a checkout or a project copy; for
    the project shipped in an installed package (read-only, shared) ``$HSCT_BOOK_CACHE``, else
    ``$XDG_CACHE_HOME/hsct-book`` (default ``~/.cache/hsct-book``)."""
    if Path(root).resolve() != shipped_project().resolve():
        return Path(root) / ".cache"
    if os.environ.get("HSCT_BOOK_CACHE"):
        return Path(os.environ["HSCT_BOOK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hsct-book"


def notebook_source(entry: str, root: Path = PROJECT_ROOT) -> Path:
    """The source notebook of a toc entry: ``book/X`` -> ``notebooks/X.ipynb``."""
    return root / "notebooks" / (entry.removeprefix("book/") + ".ipynb")


def missing_toc_entries(root: Path = PROJECT_ROOT, toc_path: Path | None = None) -> list[str]:
    """Toc entries with neither a prose page (``book/X.md``), a chapter notebook (``notebooks/X.ipynb``) nor a
    page generated at build time (:data:`GENERATED_PAGES`)."""
    return [
        entry
        for entry in toc_entries(toc_path or root / "_toc.yml")
        if not (root / f"{entry}.md").exists()
        and not notebook_source(entry, root).exists()
        and entry not in GENERATED_PAGES
    ]


def data_dictionary_page() -> str:
    """The data contract's columns (``cohort/dictionary.csv``) as a Markdown page."""
    from hsct_analysis.cohort import contract

    def cell(value) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    frame = contract.read_dictionary()
    heads = ["column", "required", "type", "unit", "allowed", "if empty", "meaning", "used by"]
    fields = ["name", "required", "type", "unit", "allowed", "if_empty", "meaning", "endpoint"]
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for record in _records(frame):
        values = [cell(record.get(f)) for f in fields]
        values[0] = f"`{values[0]}`"
        rows.append("| " + " | ".join(values) + " |")
    intro = [
        "# The data dictionary",
        "",
        "The columns of the data contract that the reproduction of Cao et al. 2023 reads:",
        "`hsct-book validate FILE.csv` checks a file against them, `hsct-book build --cohort FILE.csv` builds this",
        "book on it, and `hsct-book template` writes a blank file with this header. A study file",
        "([](study_file.md)) maps any other cohort onto the roles it needs instead. Generated at build time from",
        "`hsct_analysis/cohort/dictionary.csv`.",
        "",
    ]
    return code_format("\n".join([*intro, *rows, ""]))


_CODE_NAME = re.compile(r"(\]\([^)]*\))|(?<![\w/.`-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+|None|NaN)(?![\w/`])")


def code_format(markdown: str) -> str:
    """Key, column and role names of a generated reference page (``min_cell``, ``agvhd_3_4``) set as code
    wherever the text left them plain, so the reader sees a name to type, not a word; spans already in
    backticks, link targets and HTML comments are left as they are."""
    out, in_comment = [], False
    for line in markdown.splitlines():
        if in_comment or line.lstrip().startswith("<!--"):
            in_comment = "-->" not in line
            out.append(line)
            continue
        parts = line.split("`")
        if len(parts) % 2 == 0:  # a code span that runs on to the next line: left as it is
            out.append(line)
            continue
        for i in range(0, len(parts), 2):  # even parts are outside backtick spans
            parts[i] = _CODE_NAME.sub(lambda m: m.group(1) or f"`{m.group(2)}`", parts[i])  # link targets kept
        out.append("`".join(parts))
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def _records(frame) -> list[dict]:
    if hasattr(frame, "to_dict"):
        return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]
    return [dict(row) for row in frame]


def study_file_page() -> str:
    """The study-file reference (``hsct_analysis.cohort.study.schema_reference``) as a Markdown page."""
    from hsct_analysis.cohort import study

    return code_format(study.schema_reference())


#: Pages written into the stage at build time (from the code they document, so they never go stale).
GENERATED_PAGES: dict[str, Callable[[], str]] = {
    "book/study_file": study_file_page,
    "book/data_dictionary": data_dictionary_page,
}


def _restrict_toc(toc: dict, keep: set[str]) -> dict:
    """A copy of the toc keeping the root, prose pages and only the chapters in ``keep``."""

    def wanted(item) -> bool:
        return not isinstance(item, dict) or "file" not in item or item["file"] in keep

    def prune(node):
        if isinstance(node, list):
            return [prune(item) for item in node if wanted(item)]
        if isinstance(node, dict):
            return {k: prune(v) for k, v in node.items()}
        return node

    pruned = prune(toc)
    if "parts" in pruned:
        pruned["parts"] = [part for part in pruned["parts"] if part.get("chapters")]
    for key in ("parts", "chapters"):  # a toc of its root page alone has neither (an empty list is malformed)
        if key in pruned and not pruned[key]:
            del pruned[key]
    return pruned


# ------------------------------------------------------------------------------------------------ hashing


def _hash_files(digest, files: list[Path], base: Path) -> None:
    for path in sorted(files):
        digest.update(str(path.relative_to(base)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")


def _sphinx_only_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Package files that shape the HTML but never a chapter's execution (the Sphinx extension and its CSS)."""
    book = package_dir / "book"
    return [book / "sphinx_ext.py", *sorted(p for p in (book / "static").rglob("*") if p.is_file())]


def package_fingerprint(package_dir: Path = PACKAGE_DIR, data_dir: Path | None = None) -> str:
    """sha256 of every package source file that chapters execute (and of ``data/`` except cohort files).

    The Sphinx extension and its static files are left out: they change the HTML, not what a chapter
    computes, so :func:`book_key` hashes them instead.
    """
    digest = hashlib.sha256()
    sphinx_only = set(_sphinx_only_files(package_dir))
    files = [p for p in package_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p not in sphinx_only]
    _hash_files(digest, files, package_dir)
    if data_dir is not None and data_dir.is_dir():
        data = [p for p in data_dir.rglob("*") if p.is_file() and p.name != "cohort.csv"]
        _hash_files(digest, data, data_dir)
    return digest.hexdigest()


def chapter_key(source: Path, cohort_bytes: bytes, package_hash: str, parameters: dict) -> str:
    """Cache key of one executed chapter: sha256 of notebook, cohort, package and parameters."""
    digest = hashlib.sha256(CACHE_VERSION.encode())
    for part in (source.read_bytes(), cohort_bytes, package_hash.encode(), _json(parameters).encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def book_key(root: Path, chapters: list[Chapter], toc_text: str, config_text: str) -> str:
    """Key of the whole HTML book: the chapter keys plus the config, toc, bibliography and prose pages."""
    digest = hashlib.sha256(CACHE_VERSION.encode())
    digest.update(toc_text.encode())
    digest.update(config_text.encode())
    for chapter in chapters:
        digest.update(f"{chapter.entry}={chapter.key}".encode())
    prose = [p for p in (root / "book").rglob("*") if p.is_file() and p.suffix != ".ipynb"]
    prose += [root / "references.bib"]
    _hash_files(digest, [p for p in prose if p.exists()], root)
    _hash_files(digest, [p for p in _sphinx_only_files() if p.exists()], PACKAGE_DIR)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- the cohort


def bundled_cohort_paths(root: Path = PROJECT_ROOT) -> list[Path]:
    """Where the bundled synthetic cohort lives: ``data/cohort.csv`` (and a package copy if one ships)."""
    candidates = [root / "data" / "cohort.csv", PACKAGE_DIR / "data" / "cohort.csv"]
    return [p for p in candidates if p.is_file()]


def is_bundled_cohort(cohort_path: Path, root: Path = PROJECT_ROOT) -> bool:
    """True only when the file is byte-identical to the bundled synthetic cohort."""
    data = Path(cohort_path).read_bytes()
    return any(p.read_bytes() == data for p in bundled_cohort_paths(root))


def check_cohort(cohort_path: Path) -> None:
    """Check the cohort file (and the screening log beside it) as ``hsct-book validate`` does; raise ``CohortError``
    (or, for the log, ``EnrolmentError``) listing every problem."""
    from hsct_analysis.cohort import contract, enrolment

    if not Path(cohort_path).is_file():
        raise BuildError(f"cohort file not found: {cohort_path}")
    _, problems = contract.check_for_book(cohort_path)
    if problems:
        raise contract.CohortError(problems)
    log_problems = enrolment.problems_beside(cohort_path)
    if log_problems:
        raise enrolment.EnrolmentError(log_problems)


# ----------------------------------------------------------------------------------------- the chapters


def declared_parameters(source: Path) -> set[str]:
    """Names defined in the notebook's ``parameters`` cell (papermill's inspection)."""
    import papermill

    return set(papermill.inspect_notebook(str(source)))


def plan_chapters(
    root: Path,
    entries: list[str],
    cohort_path: Path,
    offered: dict,
    package_hash: str,
    inputs: list[Path] | None = None,
) -> list[Chapter]:
    """Chapters to execute, each with the parameters its notebook declares and its cache key.

    The key covers the bytes of ``cohort_path``, or of every file in ``inputs`` (a study file and its cohort).
    """
    if inputs is None:
        cohort_bytes = cohort_path.read_bytes()
    else:
        cohort_bytes = b"".join(hashlib.sha256(Path(p).read_bytes()).digest() for p in inputs)
    chapters = []
    for entry in entries:
        source = notebook_source(entry, root)
        if not source.exists():
            continue
        declared = declared_parameters(source)
        parameters = {k: v for k, v in offered.items() if k in declared}
        chapters.append(Chapter(entry, source, parameters, chapter_key(source, cohort_bytes, package_hash, parameters)))
    return chapters


def _quiet_worker(log_path: str, sockets: str) -> None:
    """Send a worker's (and its kernels') stderr to a log file instead of the user's terminal; its kernels'
    sockets go in ``sockets`` (which the build removes, also when a worker was killed)."""
    os.environ[SOCKETS_ENV] = sockets
    die_with_parent()
    for sig in HANDLED_SIGNALS:  # the parent stops the workers; a Ctrl-C reaching the group must not
        signal.signal(sig, signal.SIG_IGN if sig != signal.SIGTERM else signal.SIG_DFL)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)


def execute_chapter(source: str, output: str, parameters: dict, cwd: str) -> dict:
    """Run one notebook with papermill (in a worker process). Returns a plain dict, never raises.

    On failure the dict holds ``cell_index``, ``cell_source`` and ``error`` (``ename: evalue``). A kernel that
    never answers is started again, up to ``KERNEL_START_ATTEMPTS`` times in all; ``kernel_restarts`` counts
    the extra starts.
    """
    start = time.perf_counter()
    restarts = 0
    result = _execute_once(source, output, parameters, cwd)
    while result.pop("retry", False) and restarts + 1 < KERNEL_START_ATTEMPTS:
        restarts += 1
        result = _execute_once(source, output, parameters, cwd)
    return result | {"seconds": time.perf_counter() - start, "kernel_restarts": restarts}


def _execute_once(source: str, output: str, parameters: dict, cwd: str) -> dict:
    """One papermill run of ``source``; ``retry`` is True when its kernel never started."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            source,
            output,
            parameters=parameters,
            cwd=cwd,
            kernel_name="python3",
            kernel_manager_class=_kernel_manager_class(),
            start_timeout=KERNEL_START_SECONDS,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        return {
            "ok": False,
            "cell_index": _cell_position(source, exc.source),
            "cell_source": exc.source,
            "error": f"{exc.ename}: {exc.evalue}",
        }
    except Exception as exc:  # kernel died, bad notebook JSON, ...: still a named chapter failure
        return {
            "ok": False,
            "cell_index": None,
            "cell_source": "",
            "error": f"{type(exc).__name__}: {exc}",
            "retry": kernel_never_started(exc),
        }
    return {"ok": True}


def _cell_position(notebook: str, cell_source: str) -> int | None:
    """0-based index of the cell with this source in the source notebook (None if not found)."""
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception:
        return None
    return next((i for i, cell in enumerate(cells) if cell.source == cell_source), None)


HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell", "parameters", "injected-parameters"}


def is_report_chapter(entry: str) -> bool:
    """A chapter of the study (``book/05_survival``), written for clinicians; methods pages teach the code."""
    return entry.startswith("book/") and not entry.startswith("book/methods/")


def finish_executed(path: Path, cohort_path: Path, shown: str, hide_code: bool = False) -> None:
    """Hide papermill's plumbing in an executed notebook, in place, and drop the run's clock times.

    The ``parameters`` and ``injected-parameters`` cells get the ``remove-cell`` tag (not shown in the HTML),
    and the absolute cohort path becomes ``shown`` in the cells and in the papermill metadata. With
    ``hide_code`` (the report chapters) every code cell still shown gets ``hide-input``: its output stays, the
    code is one click away ("Show code cell source").
    """
    nb = nbformat.read(path, as_version=4)
    full, short = str(cohort_path), shown
    for cell in nb.cells:
        _drop_run_record(cell.metadata)
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
            _drop_caption_without_figure(cell)
        tags = cell.metadata.setdefault("tags", [])
        if hide_code and cell.cell_type == "code" and not HIDDEN_TAGS & set(tags):
            tags.append("hide-input")
        if {"parameters", "injected-parameters"} & set(tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "injected-parameters" in tags:
            cell.source = cell.source.replace(full, short)
            cell.id = "injected-parameters"  # papermill gives the cell it adds a random id
    meta = nb.metadata.get("papermill", {})
    _drop_run_record(nb.metadata)
    if meta.get("parameters", {}).get("is_bundled_cohort") is False:
        _replace_synthetic_admonition(nb, Path(short).name)
    for cell in nb.cells:
        _alt_from_caption(cell)
        _index_names_in_header(cell)
    if "cohort_path" in meta.get("parameters", {}):
        meta["parameters"]["cohort_path"] = short
    if meta.get("parameters", {}).get("study_path") == full:  # a study book: the study file, by name only
        meta["parameters"]["study_path"] = short
    if "input_path" in meta:
        meta["input_path"] = Path(meta["input_path"]).name
    if "output_path" in meta:  # the worker's temporary name (process id, key): the page is the input's
        meta["output_path"] = meta.get("input_path", Path(meta["output_path"]).name)
    nbformat.write(nb, path)


def _drop_caption_without_figure(cell) -> None:
    """A cell's figure caption (``mystnb.figure``) only where the cell drew an image: when it shows text instead
    (the figure is not available for this cohort, or withheld under ``--min-cell``), the text stands alone, not
    as a numbered figure under a caption that describes curves."""
    figure = cell.metadata.get("mystnb", {}).get("figure")
    if figure is None or any(mime.startswith("image/") for output in cell.outputs for mime in output.get("data", {})):
        return
    del cell.metadata["mystnb"]["figure"]
    if not cell.metadata["mystnb"]:
        del cell.metadata["mystnb"]


def _alt_from_caption(cell) -> None:
    """A figure's text alternative (the ``alt`` of its image, for screen readers and when the image does not load)
    is its caption, as plain text (a user's file name in it loses the backslashes that escaped it for Markdown):
    without one, the HTML would carry the image file's name."""
    figure = cell.metadata.get("mystnb", {}).get("figure") or {}
    image = cell.metadata.get("mystnb", {}).get("image") or {}
    if figure.get("caption") and "alt" not in image:
        plain = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", " ".join(str(figure["caption"]).split()))
        cell.metadata["mystnb"]["image"] = {**image, "alt": plain}


_THEAD = re.compile(r"(<thead>)(.*?)(</thead>)", re.S)
_HEAD_ROW = re.compile(r"<tr\b[^>]*>.*?</tr>", re.S)
_HEAD_CELL = re.compile(r"<th\b[^>]*>(.*?)</th>", re.S)


def _blank(text: str) -> bool:
    return text.strip() in ("", "&nbsp;")


def _merge_index_names(match: re.Match) -> str:
    """One ``<thead>`` with the names of the row index moved up into the blank corner of the column headings
    (see :func:`_index_names_in_header`); unchanged unless its last row holds only index names and blanks, and the
    row above it has a blank cell over each name and as many cells (no spanning headings)."""
    rows = list(_HEAD_ROW.finditer(match.group(2)))
    if len(rows) < 2:
        return match.group(0)
    above, names = rows[-2], rows[-1]
    name_cells, above_cells = list(_HEAD_CELL.finditer(names.group(0))), list(_HEAD_CELL.finditer(above.group(0)))
    k = next((i for i, c in enumerate(name_cells) if _blank(c.group(1))), len(name_cells))
    if (
        k == 0
        or len(above_cells) != len(name_cells)
        or "colspan" in above.group(0)
        or not all(_blank(c.group(1)) for c in name_cells[k:])
        or not all(_blank(c.group(1)) for c in above_cells[:k])
    ):
        return match.group(0)
    row = above.group(0)
    merged = row[: above_cells[0].start()] + "".join(c.group(0) for c in name_cells[:k])
    merged += row[above_cells[k - 1].end() :]
    body = match.group(2)
    body = body[: above.start()] + merged + body[above.end() : names.start()] + body[names.end() :]
    return match.group(1) + body + match.group(3)


def _index_names_in_header(cell) -> None:
    """Tables (HTML outputs of a code cell) with the names of their row index ("Factor", "Level") on the same
    header row as the column headings, in place: pandas puts them on a second header row of their own, under
    blank headings, which reads as an empty row of the table."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "text/html" in data:
            html = "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
            data["text/html"] = _THEAD.sub(_merge_index_names, html)


#: What papermill and nbclient record about one run (clock times, durations): two runs of the same notebook
#: differ only there, and a page built from it must not (reproducible builds).
RUN_RECORD = ("start_time", "end_time", "duration")


def _coalesce_streams(outputs: list) -> list:
    """Consecutive stdout (or stderr) outputs of a cell as one: how a cell's printing is cut into messages
    depends on when the kernel flushed, which changes from run to run; the text does not."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            merged.append(output)
    return merged


def _drop_run_record(metadata) -> None:
    """Remove the run's clock times from a notebook's or a cell's metadata, in place."""
    metadata.pop("execution", None)  # nbclient's iopub/shell timestamps of a cell
    for field in RUN_RECORD:
        metadata.get("papermill", {}).pop(field, None)


#: Every page of the bundled book includes this one box (book/_parts/synthetic_cohort.md).
SYNTHETIC_INCLUDE = "/book/_parts/synthetic_cohort.md"
SYNTHETIC_ADMONITION = re.compile(r"```\{include\} " + re.escape(SYNTHETIC_INCLUDE) + r"\n```")
USER_COHORT_ADMONITION = (
    "```{{admonition}} Your cohort\n:class: note\n"
    "This chapter was executed on a user-supplied cohort ({name}), not on the book's synthetic cohort: its "
    "numbers describe those patients. Comparisons with the paper are shown only for the bundled synthetic cohort.\n```"
)


#: How a figure caption (a code cell's ``mystnb.figure.caption``) says that the figure shows the synthetic cohort;
#: on a user's cohort the build rewrites it to "(cohort: <file name>)", as it replaces the synthetic box.
SYNTHETIC_CAPTION = "(synthetic cohort)"


def _swap_synthetic_box(cell, admonition: str, name: str) -> None:
    """A markdown cell's "every patient is synthetic" box replaced by ``admonition`` naming the cohort file ``name``."""
    if cell.cell_type == "markdown":
        cell.source = SYNTHETIC_ADMONITION.sub(lambda _: admonition.format(name=escape_markdown(name)), cell.source)


def _replace_synthetic_admonition(nb, name: str) -> None:
    """On a user's cohort, the chapters' "every patient is synthetic" box would be false: say whose data it is."""
    for cell in nb.cells:
        _swap_synthetic_box(cell, USER_COHORT_ADMONITION, name)
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        if isinstance(figure.get("caption"), str):
            figure["caption"] = figure["caption"].replace(SYNTHETIC_CAPTION, f"(cohort: {escape_markdown(name)})")


def run_chapters(
    chapters: list[Chapter], stage: Path, cache: Path, cohort_path: Path, jobs: int, progress: Callable
) -> dict:
    """Execute (or reuse from ``cache``) every chapter into ``stage``; returns counts and seconds.

    Prints one line per chapter as it finishes, then the total. Raises ``NotebookError`` for the first failure.
    """
    start = time.perf_counter()
    executed_dir, running_dir, failed_dir = cache / "executed", cache / "running", cache / "failed"
    for d in (executed_dir, running_dir, failed_dir):
        d.mkdir(parents=True, exist_ok=True)
    todo, reused = [], 0
    for chapter in chapters:
        cached = _cached_copy(executed_dir, chapter)
        target = stage / f"{chapter.entry}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if cached.exists():
            shutil.copyfile(cached, target)
            reused += 1
            progress(f"  {chapter.name}: reused from cache (unchanged)")
        else:
            todo.append(chapter)
    timings = _read_timings(cache)
    todo.sort(key=lambda chapter: -timings.get(chapter.name, 0.0))  # longest first: the last worker ends sooner
    failure = _execute_all(
        todo, stage, running_dir, executed_dir, failed_dir, cohort_path, jobs, progress, start, timings
    )
    _write_timings(cache, timings)
    if failure is not None:
        raise failure
    total = time.perf_counter() - start
    progress(f"chapters: {len(todo)} executed, {reused} reused from cache, {total:.1f} s")
    return {"executed": len(todo), "reused": reused, "seconds": total}


def _cached_copy(executed_dir: Path, chapter: Chapter) -> Path:
    return executed_dir / f"{chapter.name.replace('/', '__')}-{chapter.key[:20]}.ipynb"


def _read_timings(cache: Path) -> dict[str, float]:
    """Seconds each chapter took when last executed (used to start the longest chapters first)."""
    try:
        return json.loads((cache / "timings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_timings(cache: Path, timings: dict[str, float]) -> None:
    (cache / "timings.json").write_text(_json(timings), encoding="utf-8")


def _execute_all(todo, stage, running_dir, executed_dir, failed_dir, cohort_path, jobs, progress, start, timings):
    """Run ``todo`` in ``jobs`` worker processes; returns the first ``NotebookError`` or None.

    At most ``jobs`` chapters are in flight; after a failure no new chapter starts (those running finish).
    """
    if not todo:
        return None
    failure = None
    queue = list(todo)
    # a stopped build's chapters must not be reused: partial notebooks of builds no longer running go
    for partial in running_dir.glob("*-*.ipynb"):
        if not _pid_alive(partial.name.split("-", 1)[0]):
            partial.unlink(missing_ok=True)
    kernel_log = running_dir.parent / "logs" / "kernels.log"
    kernel_log.parent.mkdir(parents=True, exist_ok=True)
    _sweep_socket_folders()
    # in /tmp: the cache's path may be too long for a socket; named by this build's pid, for a later build's sweep
    sockets = tempfile.mkdtemp(prefix=f"{SOCKETS_PREFIX}{os.getpid()}-")
    try:
        with futures.ProcessPoolExecutor(
            max_workers=max(1, jobs),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_quiet_worker,
            initargs=(str(kernel_log), sockets),
        ) as pool:
            try:
                failure = _run_queue(
                    pool,
                    queue,
                    stage,
                    running_dir,
                    executed_dir,
                    failed_dir,
                    cohort_path,
                    jobs,
                    progress,
                    start,
                    timings,
                )
            except BaseException:  # interrupted (signal) or broken: stop the workers now; their kernels die with them
                _kill_workers(pool)
                for partial in running_dir.glob(f"{os.getpid()}-*"):
                    partial.unlink(missing_ok=True)
                raise
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return failure


def _sweep_socket_folders() -> None:
    """Remove the kernels' socket folders of builds no longer running (a build killed by SIGKILL leaves its folder,
    named ``hsct-kernels-<its pid>-...``, in the temporary folder: :func:`_execute_all`)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SOCKETS_PREFIX}*-*"):
        pid = folder.name[len(SOCKETS_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _pid_alive(text: str) -> bool:
    try:
        os.kill(int(text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _kill_workers(pool: futures.ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=10)


def _run_queue(pool, queue, stage, running_dir, executed_dir, failed_dir, cohort_path, jobs, progress, start, timings):
    """Submit chapters as workers free up; returns the first ``NotebookError`` or None."""
    failure = None
    running: dict = {}
    while queue or running:
        while queue and failure is None and len(running) < max(1, jobs):
            chapter = queue.pop(0)
            output = running_dir / f"{os.getpid()}-{_cached_copy(executed_dir, chapter).name}"
            cwd = (stage / chapter.entry).parent
            cwd.mkdir(parents=True, exist_ok=True)
            job = pool.submit(execute_chapter, str(chapter.source), str(output), chapter.parameters, str(cwd))
            running[job] = (chapter, output)
        if not running:
            break
        done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
        for job in done:
            chapter, output = running.pop(job)
            result = _result_of(job)
            timings[chapter.name] = round(result["seconds"], 2)
            elapsed = time.perf_counter() - start
            if result["ok"]:
                _keep_executed(chapter, output, executed_dir, stage, cohort_path)
                again = "; its kernel did not answer and was started again" if result.get("kernel_restarts") else ""
                progress(f"  {chapter.name}: executed in {result['seconds']:.1f} s (elapsed {elapsed:.1f} s{again})")
                continue
            progress(f"  {chapter.name}: FAILED after {result['seconds']:.1f} s")
            report = _keep_failed(chapter, output, failed_dir)
            if failure is None:
                failure = NotebookError(
                    chapter.name, result["cell_index"], result["cell_source"], result["error"], report
                )
    return failure


def _result_of(job) -> dict:
    try:
        return job.result()
    except futures.process.BrokenProcessPool as exc:  # the worker itself died (killed, out of memory)
        return {
            "ok": False,
            "cell_index": None,
            "cell_source": "",
            "seconds": 0.0,
            "error": f"the worker process running it died ({exc})",
        }


def _keep_executed(chapter: Chapter, output: Path, executed_dir: Path, stage: Path, cohort_path: Path) -> None:
    """Tidy an executed notebook, move it into the cache and copy it into the stage (the cohort path it hides is
    the one it received: a methods page of a book on a user's cohort got the bundled one)."""
    received = Path(chapter.parameters.get("cohort_path", cohort_path))
    finish_executed(output, received, chapter.shown_cohort, hide_code=is_report_chapter(chapter.entry))
    cached = _cached_copy(executed_dir, chapter)
    os.replace(output, cached)
    shutil.copyfile(cached, stage / f"{chapter.entry}.ipynb")


def _keep_failed(chapter: Chapter, output: Path, failed_dir: Path) -> Path | None:
    """Keep the partly executed notebook of a failed chapter in ``.cache/failed`` for inspection, named as its
    executed copy would be (the chapter and the key of its inputs): two builds of different studies that fail in
    the same chapter keep one each."""
    if not output.exists():
        return None
    report = failed_dir / _cached_copy(failed_dir, chapter).name
    os.replace(output, report)
    return report


# ------------------------------------------------------------------------------------------- the stage


def make_stage(
    root: Path,
    out: Path,
    toc: dict,
    announcement: str | None,
    provenance: dict | None = None,
    unbuilt: list[str] | None = None,
    config_changes: dict | None = None,
) -> Path:
    """A fresh folder next to ``out`` with the config, toc, bibliography and prose pages of the book.

    ``provenance`` (see :func:`hsct_analysis.sphinx_ext.provenance`) goes into the Sphinx config, from where the
    book's extension prints it at the foot of every page. ``unbuilt`` lists the pages a ``--chapter`` build
    leaves out: links to them become plain text (:mod:`hsct_analysis.book.unbuilt_refs`). ``config_changes``
    is merged into ``_config.yml`` (nested mappings merged, a ``None`` value removes the key). The pages of
    :data:`GENERATED_PAGES` that the toc lists are written into the stage.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.stage-", dir=out.parent))
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    _merge(config, config_changes or {})
    if announcement is not None:
        config.setdefault("html", {})["announcement"] = announcement
    if provenance:
        config.setdefault("sphinx", {}).setdefault("config", {})["hsct_provenance"] = dict(provenance)
    if unbuilt:
        sphinx = config.setdefault("sphinx", {})
        sphinx.setdefault("extra_extensions", []).append("hsct_analysis.book.unbuilt_refs")
        sphinx.setdefault("config", {})["hsct_unbuilt_pages"] = sorted(unbuilt)
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    shutil.copyfile(root / "references.bib", stage / "references.bib")
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    if (root / "data").is_dir():
        # Notebooks' default paths ("../data/cohort.csv") resolve from the stage as from notebooks/.
        (stage / "data").symlink_to(root / "data", target_is_directory=True)
    listed = set(toc_entries_of(toc))
    for entry, render in GENERATED_PAGES.items():
        if entry in listed:
            (stage / f"{entry}.md").write_text(render(), encoding="utf-8")
    return stage


def _merge(config: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value


KEY_RESULTS_PAGE = "book/key_results.md"
#: The chapters that compare the cohort with the paper (the scorecard and its audit): built on the bundled synthetic
#: cohort only. On a user's cohort every comparison would read "not computed", so the book leaves them out and its
#: links to them become plain text; the other chapters say in their box that comparisons are for the bundled cohort.
PAPER_COMPARISON_PAGES = frozenset({"book/08_scorecard"})
#: The landing page's "the cohort is synthetic" box (``{include}``-d by ``book/index.md``); on a user's cohort the
#: stage's copy is replaced by :data:`USER_COHORT_LANDING`.
LANDING_BOX_PAGE = "book/_parts/synthetic_landing.md"
USER_COHORT_LANDING = (
    "```{{admonition}} Your cohort\n:class: note\n"
    "This book was built on a user-supplied cohort ({name}): its chapters describe those patients, not the book's "
    "synthetic cohort. The methods pages still teach on the synthetic cohort, and say so.\n```\n"
)


def write_landing(stage: Path, cohort_path: Path, bundled: bool) -> None:
    """The landing page's cohort-dependent parts in the stage: its key-results box (:func:`write_key_results`) and,
    on a user's cohort, the box saying whose patients the book describes in place of the synthetic-cohort box,
    which would be false there."""
    write_key_results(stage, cohort_path, bundled)
    if not bundled:
        box = USER_COHORT_LANDING.format(name=escape_markdown(cohort_path.name))
        (stage / LANDING_BOX_PAGE).write_text(box, encoding="utf-8")


def write_key_results(stage: Path, cohort_path: Path, bundled: bool) -> None:
    """The landing page's key-results box (``{include}``-d by ``book/index.md``), computed from the cohort.

    On the bundled cohort it lists the headline estimates, paper vs reproduced, misses named; on any other
    cohort there is no paper to compare with and the file says so in one sentence.
    """
    from hsct_analysis.book import comparison
    from hsct_analysis.book.report import HEADLINE_IDS, Report, identity_gap_notes

    target = stage / KEY_RESULTS_PAGE
    if bundled:
        report = Report(str(cohort_path))
        notes = identity_gap_notes(report.entries(ids=HEADLINE_IDS), report.card)
        text = comparison.key_results(report.paper(ids=HEADLINE_IDS), notes=notes)
    else:
        text = "Comparisons with the paper are shown only for the book's own synthetic cohort."
    target.write_text(text + "\n", encoding="utf-8")


def run_jupyter_book(stage: Path, log_dir: Path) -> Path:
    """Build the staged book with ``-W -n --keep-going``; returns the HTML folder or raises ``SphinxError``."""
    command = [
        *_jupyter_book_command(),
        "build",
        str(stage),
        "--path-output",
        str(stage),
        "--warningiserror",
        "--nitpick",
        "--keep-going",
        "--all",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=stage, preexec_fn=die_with_parent)
    html = stage / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").exists():
        log = _keep_log(log_dir, proc.stdout + "\n" + proc.stderr)
        text = (proc.stdout + "\n" + proc.stderr).replace(f"{stage}{os.sep}", "")
        raise SphinxError(_warning_lines(text), log)
    return html


JUPYTER_BOOK_MAIN = "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"


def _jupyter_book_command() -> list[str]:
    """Jupyter Book run by this interpreter, so Sphinx imports this very ``hsct_analysis`` (the one installed
    from a wheel, or the checkout's), whatever ``jupyter-book`` happens to be first on PATH."""
    import importlib.util

    if importlib.util.find_spec("jupyter_book") is None:
        raise BuildError("jupyter-book is not installed in this environment (pip install -c constraints.txt -e .)")
    return [sys.executable, "-c", JUPYTER_BOOK_MAIN]


def _warning_lines(text: str) -> list[str]:
    """Lines of a Sphinx log that report a warning or an error, without terminal colour codes."""
    keys = ("WARNING", "ERROR", "CRITICAL", "Error", "Exception")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return [line.strip() for line in plain.splitlines() if any(k in line for k in keys)]


def _keep_log(log_dir: Path, text: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "jupyter-book.log"
    log.write_text(text, encoding="utf-8")
    return log


def swap_into(html: Path, out: Path, key: str) -> None:
    """Put ``html`` at ``out`` by renames: old -> backup, new -> out, then delete the backup.

    The handled signals are held back during the two renames, so a stop never leaves ``out`` missing; the
    backup is deleted whole (``_check_out_is_replaceable`` made sure it can be) or the error is raised.
    """
    (html / STAMP_NAME).write_text(_json({"key": key, "built": time.strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8")
    backup = out.with_name(f".{out.name}.old-{os.getpid()}")
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS) if HANDLED_SIGNALS else None
    try:
        if out.exists():
            os.rename(out, backup)
        try:
            os.rename(html, out)
        except OSError:
            if backup.exists():
                os.rename(backup, out)
            raise
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    if backup.exists():
        try:
            shutil.rmtree(backup)
        except OSError as exc:  # never a silent hidden copy: say where it is (the next build removes it)
            raise BuildError(
                f"the new book is in {out}, but the previous one could not be deleted from {backup} "
                f"({exc.strerror or exc}); remove it by hand"
            ) from None


def _lock_path(out: Path) -> Path:
    """The lock of one ``--out`` folder: a file in the temporary folder named by a hash of its path, so that
    nothing is left next to the book."""
    digest = hashlib.sha256(str(out).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"hsct-book-{digest}.lock"


def lock_out(out: Path):
    """An exclusive lock on ``out`` (filelock), or ``BuildError`` at once if another build holds it."""
    import filelock

    lock = filelock.FileLock(str(_lock_path(out)))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise BuildError(
            f"another hsct-book build is writing {out}: wait until it has finished, or build into another --out folder"
        ) from None
    return lock


def remove_leftovers(out: Path) -> list[Path]:
    """Remove what a stopped build left next to ``out`` (stage folders, backups of an old book); call it only
    while holding ``lock_out(out)``, when no other build can be using them. Returns what was removed."""
    removed = []
    if out.parent.is_dir():
        for pattern in (f".{out.name}.stage-*", f".{out.name}.old-*"):
            for path in out.parent.glob(pattern):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _check_out_is_replaceable(out: Path) -> None:
    """Refuse to replace a non-empty folder that is not a book built by this tool, or one that could not be
    deleted whole afterwards (a read-only folder in it): nothing is built, and no copy is left behind."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / STAMP_NAME).exists())):
        raise BuildError(f"{out} exists and is not a book built by hsct-book; choose another --out or remove it")
    parent = out.parent if out.parent.exists() else None
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError(f"{parent} is not writable: the book cannot be written to {out}")
    if out.is_dir():
        for folder, _, _ in os.walk(out):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise BuildError(
                    f"{folder} is read-only, so the previous book in {out} cannot be replaced: make it "
                    f"writable (chmod -R u+w {out}) or choose another --out"
                )


def _built_key(out: Path) -> str | None:
    try:
        return json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError):
        return None


# ------------------------------------------------------------------------------------------- the build


@dataclass(frozen=True)
class BuildOptions:
    """How a book is built, the same for the paper book and a study book.

    ``min_cell``: counts below it are masked in every table and figure (``None``: no masking, or the study
    file's); ``jobs``: chapters executed at once; ``chapters``: the toc entries to build (``None``: all);
    ``progress``: called with each progress line; ``root``: the project folder holding ``_config.yml``,
    ``_toc.yml``, ``notebooks/`` and ``book/``."""

    min_cell: int | None = None
    jobs: int = 2
    chapters: list[str] | None = None
    progress: Callable[[str], None] = print
    root: str | Path = PROJECT_ROOT


def build_book(cohort: str | Path, out: str | Path, title: str | None = None, **options) -> Path:
    """Build the HTML book for ``cohort`` into ``out`` and return ``out``; ``options`` are
    :class:`BuildOptions` fields.

    ``chapters`` restricts the build to those toc entries (``"00_about"`` or ``"book/00_about"``); prose pages are
    always built. ``root`` is the project folder holding ``_config.yml``, ``_toc.yml``, ``notebooks/`` and
    ``book/``; executed chapters are cached in :func:`cache_dir` (``root/.cache/executed`` in a checkout).
    """
    opts = BuildOptions(**options)
    start = time.perf_counter()
    root, cohort_path, out = Path(opts.root).resolve(), Path(cohort).resolve(), Path(out).resolve()
    check_cohort(cohort_path)
    min_cell, jobs, chapters, progress = opts.min_cell, opts.jobs, opts.chapters, opts.progress
    return _locked(
        out, progress, lambda: _build_paper(root, cohort_path, out, title, min_cell, jobs, chapters, progress, start)
    )


def _locked(out: Path, progress: Callable, build: Callable[[], Path]) -> Path:
    """Run ``build`` holding the lock of ``out``, after removing what a stopped build left next to it."""
    _check_out_is_replaceable(out)
    lock = lock_out(out)
    try:
        for path in remove_leftovers(out):
            progress(f"removed {path.name}, left by a build that was stopped")
        return build()
    finally:
        lock.release()


@dataclass
class _Book:
    """What differs between the paper book and a study book; :func:`_build_staged` does the rest."""

    toc: dict
    toc_name: str  # for messages: "_toc.yml" or "notebooks/study/_toc.yml"
    offered: dict  # parameters offered to every notebook (each gets those its parameters cell declares)
    data_path: Path  # the absolute path a notebook receives (cohort or study file), hidden in the executed copy
    inputs: list[Path]  # files whose bytes enter every chapter's key
    shown: Callable[[Chapter], Chapter]
    announcement: str | None
    provenance: dict
    config_changes: dict
    before_chapters: Callable[[Path], None] = lambda stage: None
    #: The methods pages' own book when they do not run on ``data_path``: the bundled synthetic cohort they teach
    #: with, its parameters and how they name it (see :func:`_build_paper`).
    teaching: _Book | None = None
    #: Toc entries this book leaves out (their links become plain text), e.g. the paper comparison on a user's cohort.
    left_out: frozenset[str] = frozenset()


def is_methods_page(entry: str) -> bool:
    """A page of the teaching layer (``book/methods/...``)."""
    return entry.startswith("book/methods/")


def _build_paper(root, cohort_path, out, title, min_cell, jobs, chapters, progress, start) -> Path:
    """The paper book on ``cohort_path``. On a cohort other than the bundled one the methods pages still run on
    the bundled synthetic cohort: they teach with the paper's design (its 90-day cut, its small groups) and
    exercises whose answers are those of that cohort, so on another cohort they would teach a design it may not
    have, or fail where it has no such group; their synthetic boxes stay true. The chapters run on the user's
    cohort, except the scorecard (:data:`PAPER_COMPARISON_PAGES`), which is left out; the landing page says whose
    patients the book describes (:func:`write_landing`)."""
    from hsct_analysis.cohort.enrolment import logs_beside

    bundled = is_bundled_cohort(cohort_path, root)
    teaching = None
    if not bundled and bundled_cohort_paths(root):
        synthetic = bundled_cohort_paths(root)[0]
        teaching = _Book(
            toc={},
            toc_name="_toc.yml",
            offered={"cohort_path": str(synthetic), "min_cell": min_cell, "title": title, "is_bundled_cohort": True},
            data_path=synthetic,
            inputs=[synthetic],
            shown=lambda chapter: _with_shown_cohort(chapter, root, synthetic, True),
            announcement=None,
            provenance={},
            config_changes={},
        )
    book = _Book(
        toc=yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")),
        toc_name="_toc.yml",
        offered={"cohort_path": str(cohort_path), "min_cell": min_cell, "title": title, "is_bundled_cohort": bundled},
        data_path=cohort_path,
        inputs=[cohort_path, *logs_beside(cohort_path)],
        shown=lambda chapter: _with_shown_cohort(chapter, root, cohort_path, bundled),
        announcement=None if bundled else USER_COHORT_BANNER.format(name=escape_html(cohort_path.name)),
        provenance=_provenance(root, cohort_path),
        config_changes={} if bundled else {"title": title or _unsynthetic_title(root)},
        before_chapters=lambda stage: write_landing(stage, cohort_path, bundled),
        teaching=teaching,
        left_out=frozenset() if bundled else PAPER_COMPARISON_PAGES,
    )
    plan = _build_staged(root, out, book, jobs, chapters, progress, start)
    if plan is not None and bundled and title is None and min_cell is None and chapters is None and _is_checkout(root):
        copy_back(plan, root)
    return out


def _unsynthetic_title(root: Path) -> str:
    """The book's title without its "(synthetic cohort)": the title of a book built on a user's cohort."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return re.sub(r"\s*\(synthetic cohort\)\s*$", "", str(config.get("title", "")))


#: A methods page in a book built on a user's cohort runs on the bundled synthetic cohort (:func:`_build_paper`);
#: its box says so in place of "every patient in this book is synthetic".
TEACHING_ADMONITION = (
    "```{{admonition}} This page runs on the synthetic cohort\n:class: warning\n"
    "The methods pages teach with the paper's design and the book's synthetic cohort (simulated patients "
    "calibrated to the published numbers of Cao et al. 2023), also in this book built on {name}: their "
    "exercises, figures and answers are those of the synthetic cohort, not of your patients. The chapters describe "
    "your cohort.\n```"
)


def mark_taught(path: Path, name: str) -> None:
    """In a staged methods page of a book on the cohort file ``name``, say that the page runs on the synthetic
    cohort (the cached page, shared with the bundled book, is not changed)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        _swap_synthetic_box(cell, TEACHING_ADMONITION, name)
    nbformat.write(nb, path)


def _provenance(root: Path, cohort_path: Path) -> dict:
    """The footer's facts; the project shipped in an installed package has no commit of its own (a git
    repository that happens to hold the environment is not its source)."""
    if _is_checkout(root):
        return sphinx_ext.provenance(root, cohort_path)
    values = sphinx_ext.provenance(root, cohort_path)
    values["commit"] = "none: installed package"
    if not os.environ.get("SOURCE_DATE_EPOCH"):
        values["date"] = "unknown"
    return values


def _is_checkout(root: Path) -> bool:
    """A project one may write into (a checkout or a copy), not the one shipped inside an installed package."""
    return Path(root).resolve() != shipped_project().resolve()


def _resolve_chapters(chapters: list[str], entries: list[str], toc_name: str) -> set[str]:
    """Toc entries named by ``--chapter``: ``book/X``, ``X`` or the last part of the name (``01_baseline``)."""
    wanted, unknown = set(), []
    for name in chapters:
        full = name if name.startswith("book/") else f"book/{name}"
        matches = [e for e in entries if e == full] or [e for e in entries if e.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:
            wanted.add(matches[0])
        else:
            unknown.append(full)
    if unknown:
        raise BuildError(f"not chapters of {toc_name}: {', '.join(sorted(unknown))}")
    return wanted


def _build_staged(root, out, book: _Book, jobs, chapters, progress, start) -> list[Chapter] | None:
    """Plan, execute (or reuse) and build ``book`` into ``out``; returns the chapters, or None when ``out`` was
    already up to date."""
    toc = book.toc
    all_entries = toc_entries_of(toc)
    entries = [e for e in all_entries if notebook_source(e, root).exists()]
    asked = None if chapters is None else _resolve_chapters(chapters, entries, book.toc_name)
    if asked and asked & book.left_out:
        raise BuildError(
            f"{', '.join(sorted(asked & book.left_out))} compares the cohort with the paper, and a book on your own "
            "cohort has no such comparison: it is built only on the bundled synthetic cohort"
        )
    if book.left_out:
        entries = [e for e in entries if e not in book.left_out]
        toc = _restrict_toc(toc, set(all_entries) - book.left_out)
    if asked is not None:
        wanted = asked | {toc["root"]}  # the root page is always built
        entries = [e for e in entries if e in wanted]
        prose = set(all_entries) - {e for e in all_entries if notebook_source(e, root).exists()}
        toc = _restrict_toc(toc, wanted | prose)

    package_hash = package_fingerprint(data_dir=root / "data")
    inputs = None if book.inputs == [book.data_path] else book.inputs
    taught = [e for e in entries if book.teaching is not None and is_methods_page(e)]
    plan = plan_chapters(
        root, [e for e in entries if e not in taught], book.data_path, book.offered, package_hash, inputs
    )
    plan = [book.shown(chapter) for chapter in plan]
    if taught:
        teaching = book.teaching
        plan += [
            teaching.shown(c) for c in plan_chapters(root, taught, teaching.data_path, teaching.offered, package_hash)
        ]
    config_text = (root / "_config.yml").read_text(encoding="utf-8") + str(book.announcement) + _json(book.provenance)
    if book.config_changes:
        config_text += _json(book.config_changes)
    key = book_key(root, plan, _json(toc), config_text)
    if _built_key(out) == key and (out / "index.html").exists():
        progress(f"{out} is up to date (nothing changed since it was built); Sphinx skipped")
        return None

    cache = cache_dir(root)
    unbuilt = sorted(set(all_entries) - set(toc_entries_of(toc)))
    stage = make_stage(root, out, toc, book.announcement, book.provenance, unbuilt, book.config_changes)
    book.before_chapters(stage)
    try:
        run_chapters(plan, stage, cache, book.data_path, jobs, progress)
        for entry in taught:
            mark_taught(stage / f"{entry}.ipynb", book.data_path.name)
        progress("building HTML with Jupyter Book ...")
        sphinx_start = time.perf_counter()
        html = run_jupyter_book(stage, cache / "logs")
        progress(f"  Jupyter Book: {time.perf_counter() - sphinx_start:.1f} s")
        swap_into(html, out, key)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    progress(f"book written to {out / 'index.html'} in {time.perf_counter() - start:.1f} s")
    return plan


# ------------------------------------------------------------------------------------------- a study file

STUDY_TOC = Path("notebooks") / "study" / "_toc.yml"


class StudyInvalid(BuildError):
    """The study file (or the cohort it maps) has problems; ``problems`` are the lines ``validate`` prints."""

    def __init__(self, study_path: Path, problems: list):
        self.study_path = study_path
        self.problems = list(problems)
        super().__init__(
            "\n".join([f"{study_path} is not a valid study; nothing was built.", *map(str, self.problems)])
        )


def study_problems(study_path: str | Path) -> list:
    """Every problem of a study (each one line by ``str``): what ``hsct-book validate STUDY.yml`` prints and what
    stops ``hsct-book build STUDY.yml`` (one function, so the two never disagree).

    The study file and its cohort read through it (``cohort.study.check``), the lines still holding ``TODO``
    (a draft of ``hsct-book init``), the screening log beside the cohort file when there is one, and, for a study
    with ``paper:`` (whose book is the reproduction of the
    paper, executed on the data contract's columns), the cohort file's problems against the data contract.
    """
    from hsct_analysis.cohort import contract, draft, enrolment, study

    study_path = Path(study_path)
    if not study_path.is_file():
        return [f"{study_path}: no such file"]
    problems: list = list(study.check(study_path))
    try:
        problems += draft.todo_lines(study_path)
    except (OSError, UnicodeDecodeError):
        pass  # study.check has named the unreadable file already
    if problems:
        return problems
    loaded = study.load_study(study_path)
    if loaded.paper_registry is not None:
        _, cohort_problems = contract.check_for_book(loaded.cohort_file)
        problems += cohort_problems or enrolment.problems_beside(loaded.cohort_file)
    elif enrolment.has_log(loaded.cohort_file):
        problems += enrolment.problems_beside(loaded.cohort_file, study.read_cohort(loaded).ids)
    return problems


def build_study(study_file: str | Path, out: str | Path, **options) -> Path:
    """Build the book a study file declares into ``out`` and return ``out``; ``options`` are :class:`BuildOptions`
    fields.

    A study with ``paper:`` builds the paper book (:func:`build_book`) on its cohort file, with its title (unless
    the cohort is the bundled synthetic one, whose book already carries the paper's) and its ``min_cell``. Any other
    study builds the study book: the toc ``notebooks/study/_toc.yml``, each notebook executed with
    ``study_path`` (absolute) and ``min_cell``; the study's title and authors; no synthetic-cohort announcement;
    no paper, scorecard or estimator pages; a provenance footer naming the study file and its cohort with their
    hashes. ``min_cell`` given here overrides the study's. Problems of the study raise :class:`StudyInvalid`.
    """
    from hsct_analysis.cohort import study

    opts = BuildOptions(**options)
    start = time.perf_counter()
    root, study_path, out = Path(opts.root).resolve(), Path(study_file).resolve(), Path(out).resolve()
    problems = study_problems(study_path)
    if problems:
        raise StudyInvalid(study_path, problems)
    loaded = study.load_study(study_path)
    opts = replace(opts, root=root, min_cell=loaded.min_cell if opts.min_cell is None else opts.min_cell)
    if loaded.paper_registry is not None:
        bundled = is_bundled_cohort(loaded.cohort_file, root)
        return build_book(loaded.cohort_file, out, title=None if bundled else loaded.title, **asdict(opts))
    min_cell, jobs, chapters, progress = opts.min_cell, opts.jobs, opts.chapters, opts.progress
    toc_path = root / STUDY_TOC
    if not toc_path.is_file():
        raise BuildError(f"this installation has no study book ({STUDY_TOC} is missing from {root})")
    return _locked(
        out, progress, lambda: _build_study_book(root, loaded, toc_path, out, min_cell, jobs, chapters, progress, start)
    )


def _build_study_book(root, loaded, toc_path, out, min_cell, jobs, chapters, progress, start) -> Path:
    from hsct_analysis.cohort.enrolment import logs_beside

    study_path, cohort_path = loaded.source, loaded.cohort_file
    provenance = _provenance(root, cohort_path)
    provenance["study"] = f"{study_path.name}, sha256 {_sha256_16(study_path)}"
    book = _Book(
        toc=yaml.safe_load(toc_path.read_text(encoding="utf-8")),
        toc_name=str(STUDY_TOC),
        offered={"study_path": str(study_path), "min_cell": min_cell},
        data_path=study_path,
        inputs=[study_path, cohort_path, *logs_beside(cohort_path)],
        shown=lambda chapter: Chapter(chapter.entry, chapter.source, chapter.parameters, chapter.key, study_path.name),
        announcement=None,
        provenance=provenance,
        config_changes=study_config(loaded),
    )
    _build_staged(root, out, book, jobs, chapters, progress, start)
    return out


def _sha256_16(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def study_config(loaded) -> dict:
    """Changes to ``_config.yml`` for a study book: its title and authors; no announcement (the bundled book's
    says the data are synthetic); no repository or launch buttons (they lead to this package's repository and
    notebooks, not to the study's data); no smart quotes (Sphinx would turn the straight quotes of the study's
    labels, ``"CR1"`` or ``5'-UTR``, into curly ones: the book prints them as typed)."""
    # as typed: hsct_analysis.book.sphinx_ext escapes them for the theme, which prints them as raw HTML
    return {
        "title": loaded.title,
        # no authors: an empty author, not none (the key removed, Jupyter Book signs "The Jupyter Book community")
        "author": ", ".join(loaded.authors),
        "html": {"announcement": None, "use_repository_button": False},
        "launch_buttons": {"binderhub_url": "", "jupyterhub_url": ""},
        "sphinx": {"config": {"smartquotes": False}},
    }


def _with_shown_cohort(chapter: Chapter, root: Path, cohort_path: Path, bundled: bool) -> Chapter:
    """The bundled cohort is named relative to ``book/`` (so the repo's copies run as they are); others by name."""
    shown = cohort_path.name
    if bundled:
        shown = os.path.relpath(root / "data" / "cohort.csv", (root / chapter.entry).parent)
    return Chapter(chapter.entry, chapter.source, chapter.parameters, chapter.key, shown)


def copy_back(plan: list[Chapter], root: Path) -> None:
    """Copy the executed chapters of the bundled book into the repository's ``book/`` (git-ignored)."""
    executed_dir = root / ".cache" / "executed"
    for chapter in plan:
        target = root / f"{chapter.entry}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_cached_copy(executed_dir, chapter), target)
