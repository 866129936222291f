"""The ``hsct-book`` command: validate a cohort, write a blank template, build the book.

    hsct-book validate COHORT.csv | STUDY.yml
    hsct-book template [DIR]
    hsct-book init DIR [--cohort COHORT.csv|.xlsx [--sheet NAME]]
    hsct-book build STUDY.yml --out DIR [--min-cell N] [--jobs N] [--chapter NAME ...]
    hsct-book build --cohort COHORT.csv --out DIR [--title TEXT] [--min-cell N] [--jobs N] [--chapter NAME ...]

Exit status: 0 success; 2 the cohort or study file has problems (one line per problem on stderr, the same lines
``validate`` prints); 1 any other expected failure (a chapter failed, Jupyter Book warned), with a message and
no Python traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import zipfile
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_COHORT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hsct-book",
        description="Build the second-HSCT-after-CAR-T analysis book, on the bundled synthetic cohort or yours.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check a cohort CSV against the data contract, or a study file (.yml) and the cohort it maps"
    )
    validate.add_argument("cohort", type=Path, help="the cohort CSV file, or a study file (.yml/.yaml)")

    init = commands.add_parser(
        "init",
        help="write a runnable example project (DIR/study.yml: the Cao 2023 "
        "reproduction), or with --cohort draft DIR/study.yml from your file",
    )
    init.add_argument("directory", type=Path, help="folder for study.yml (created; an existing study.yml is kept)")
    init.add_argument(
        "--cohort",
        type=Path,
        default=None,
        help="your cohort file (.csv or .xlsx): draft a study file from it, each guess commented",
    )
    init.add_argument("--sheet", default=None, help="with an .xlsx --cohort: the sheet to read (default: the first)")

    template = commands.add_parser("template", help="write a blank cohort template and its data dictionary")
    template.add_argument("directory", type=Path, nargs="?", default=Path("."), help="where to write (default: .)")

    build = commands.add_parser(
        "build",
        help="execute every chapter of a study (or on a cohort CSV, with the bundled design) and build the HTML book",
    )
    build.add_argument(
        "study",
        type=Path,
        nargs="?",
        default=None,
        metavar="STUDY.yml",
        help="the study file (see `hsct-book init`); or give --cohort instead",
    )
    build.add_argument(
        "--cohort",
        type=Path,
        default=None,
        help="a cohort CSV in the data contract's columns, built with the bundled design",
    )
    build.add_argument("--out", type=Path, required=True, help="folder for the HTML book (replaced on success)")
    build.add_argument(
        "--title",
        default=None,
        help="with --cohort: a title for your cohort, shown in the chapters (a study file has its own title)",
    )
    build.add_argument(
        "--min-cell",
        type=_positive_int,
        default=None,
        metavar="N",
        help="show counts below N as '<N' in every table (small-cell suppression; overrides the study file's min_cell)",
    )
    build.add_argument(
        "--jobs", type=_positive_int, default=2, metavar="N", help="chapters executed at once (default: 2)"
    )
    build.add_argument(
        "--chapter",
        action="append",
        default=None,
        metavar="NAME",
        dest="chapters",
        help="build only this chapter (e.g. 05_survival or methods/cutpoint; repeatable); prose pages are always built",
    )
    build.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="the project folder holding _config.yml, _toc.yml, notebooks/ and book/ "
        "(default: this repository; used to test a modified copy)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


#: Lines printed of one problem repeated on many rows (same file, column, value and rule); the rest is one line.
SHOWN_REPEATS = 3


def _print_problems(problems) -> None:
    """Each problem on its line; a problem repeated on many rows (a code missing from the study file, a column of
    the wrong kind) shows its first :data:`SHOWN_REPEATS` rows, then one line with how many more and where."""
    from hsct_analysis.cohort import contract

    groups: dict[tuple, list] = {}
    for problem in problems:
        rowwise = hasattr(problem, "rule") and problem.line is not None  # a cohort problem (not the study file's)
        key = (problem.file, problem.column, problem.rule, problem.value) if rowwise else (id(problem),)
        groups.setdefault(key, []).append(problem)
    for group in groups.values():
        for problem in group[:SHOWN_REPEATS]:
            print(str(problem), file=sys.stderr)
        rest = group[SHOWN_REPEATS:]
        if rest:
            first = rest[0]
            lines = ", ".join(str(p.line) for p in rest[:10]) + (", ..." if len(rest) > 10 else "")
            column = f", column {contract.shorten(first.column)}" if first.column else ""
            where = contract.printable(first.file)
            print(f"{where}{column}: the same on {len(rest)} more line(s) ({lines}): {first.what()}", file=sys.stderr)
    print(
        f"{contract.problem_count(problems)} problem(s) found; fix them and run `hsct-book validate` again.",
        file=sys.stderr,
    )


STUDY_SUFFIXES = (".yml", ".yaml")


def _shown(path: Path) -> str:
    """A path as printed: control and invisible characters escaped, as in cell values."""
    from hsct_analysis.cohort import contract

    return contract.printable(str(path))


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a file, starting with the path."""
    return f"{_shown(path)}: {'is a directory, not a file' if path.is_dir() else 'no such file'}"


#: Warnings about a study's data listed one per line at validate and build; the rest are counted in one more line.
MAX_WARNINGS = 20


def _warn_identifiers(path: Path, read=None) -> None:
    """Print the identifier warnings (:mod:`hsct_analysis.cohort.identifiers`) of a cohort file, or of a study's
    cohort (``read``, a :class:`~hsct_analysis.cohort.study.StudyCohort` already read through the study)."""
    from hsct_analysis.cohort import identifiers

    if read is None:
        found = identifiers.cohort_file_warnings(path)
    else:
        column, name = read.study.id, read.study.cohort_file.name
        found = identifiers.identifier_warnings(read.ids, name, column) if column else []
    for warning in found:
        print(str(warning), file=sys.stderr)
    data = [] if read is None else read.warnings  # the study's data: what to check, not an error
    for problem in data[:MAX_WARNINGS]:
        print(f"warning: {problem}", file=sys.stderr)
    if len(data) > MAX_WARNINGS:
        print(
            f"warning: ... and {len(data) - MAX_WARNINGS:,} more ({len(data):,} in all; the first {MAX_WARNINGS} are "
            "listed)",
            file=sys.stderr,
        )


def _warn_identifiers_before_build(source: Path, is_study: bool) -> None:
    """:func:`_warn_identifiers` of what ``build`` is given; a study with problems (its cohort unreadable, TODO lines
    left) draws none: the build then prints exactly the lines ``validate`` prints, and no more."""
    from hsct_analysis.book import build
    from hsct_analysis.cohort import study

    if not is_study:
        _warn_identifiers(source)
        return
    if build.study_problems(source):
        return
    try:
        read = study.read_cohort(source)
    except (study.StudyError, OSError, ValueError):
        return
    _warn_identifiers(source, read)


def run_validate_study(study_path: Path) -> int:
    """Print every problem of a study file and of the cohort it maps, then what is left to fill in (TODO lines);
    or one OK line naming the patients, endpoints and factors. ``build STUDY.yml`` stops on the same lines."""
    from hsct_analysis.book import build
    from hsct_analysis.cohort import study

    if not study_path.is_file():
        print(_not_a_file(study_path), file=sys.stderr)
        return EXIT_BAD_COHORT
    problems = build.study_problems(study_path)
    if problems:
        _print_problems(problems)
        return EXIT_BAD_COHORT
    loaded = study.load_study(study_path)
    read = study.read_cohort(loaded)
    n_patients = len(read.frame)
    print(
        f"OK: {_shown(study_path)} is a valid study: {n_patients} patients; endpoints {', '.join(loaded.endpoint_names)}; "
        f"{len(loaded.factors)} risk factor{'' if len(loaded.factors) == 1 else 's'}."
    )
    _warn_identifiers(study_path, read)
    return EXIT_OK


def run_init_example(directory: Path) -> int:
    """Write the runnable example project: ``directory/study.yml`` (the Cao 2023 reproduction), its synthetic
    cohort with its screening log, and its registry of published numbers."""
    from hsct_analysis.book import project

    try:
        written = project.write_example(directory)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    files = [written[1].name, *(path.name for path in written[3:]), f"{written[2].name}/"]
    print(
        f"wrote {_shown(written[0])} (the reproduction of Cao et al. 2023 on its synthetic cohort), "
        f"{', '.join(files[:-1])} and {files[-1]}."
    )
    print(f"then run: hsct-book validate {_shown(written[0])}")
    print(f"     and: hsct-book build {_shown(written[0])} --out {_shown(directory / 'site')}")
    return EXIT_OK


def run_init(directory: Path, cohort_path: Path | None, sheet: str | None = None) -> int:
    """Draft ``directory/study.yml`` from the user's cohort file (``sheet``: of a workbook) and say what is left to
    fill in; without a cohort file, write the example project."""
    from hsct_analysis.cohort import contract, draft

    if cohort_path is None:
        if sheet is not None:
            print("error: --sheet names a sheet of the --cohort workbook; give --cohort too", file=sys.stderr)
            return EXIT_FAILED
        return run_init_example(directory)
    if not cohort_path.is_file():
        print(_not_a_file(cohort_path), file=sys.stderr)
        return EXIT_BAD_COHORT
    try:
        target, result = draft.write_draft(cohort_path, directory, sheet)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except contract.NotATable as exc:
        print(f"{_shown(cohort_path)}: {exc}", file=sys.stderr)
        return EXIT_BAD_COHORT
    except (
        ValueError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
        KeyError,
    ) as exc:  # pandas' parse errors are ValueErrors
        print(f"{_shown(cohort_path)}: cannot be read as a table ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_BAD_COHORT
    print(f"wrote {_shown(target)}: every guess is commented. Still to fill in:")
    for item in result.todo:
        print(f"  - {item}")
    print(f"then run: hsct-book validate {_shown(target)}")
    return EXIT_OK


def run_validate(cohort_path: Path) -> int:
    """Print every problem of the file (and of the screening log beside it, when the file is valid and there is
    one), one per line; or one OK line with the number of patients."""
    from hsct_analysis.cohort import contract, enrolment

    if not cohort_path.is_file():
        print(_not_a_file(cohort_path), file=sys.stderr)
        return EXIT_BAD_COHORT
    n_patients, problems = contract.check_for_book(cohort_path)  # the file is read once
    problems = problems or enrolment.problems_beside(cohort_path)
    if problems:
        _print_problems(problems)
        return EXIT_BAD_COHORT
    print(f"OK: {_shown(cohort_path)} is a valid cohort with {n_patients} patients.")
    _warn_identifiers(cohort_path)
    return EXIT_OK


def run_template(directory: Path) -> int:
    """Write the blank template (header only) and the data dictionary into ``directory``."""
    from hsct_analysis import cohort

    directory.mkdir(parents=True, exist_ok=True)
    for path in cohort.write_template(directory):
        print(f"wrote {_shown(path)}")
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    """Validate, execute and build; problems with the cohort (or its screening log) or study exit 2, other failures
    exit 1."""
    from hsct_analysis import cohort
    from hsct_analysis.book import build
    from hsct_analysis.cohort.enrolment import EnrolmentError

    if (args.study is None) == (args.cohort is None):
        print(
            "error: give a study file (hsct-book build STUDY.yml --out SITE) or --cohort FILE.csv, not both "
            "and not neither",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if args.study is not None and args.title is not None:
        print("error: --title goes with --cohort; a study file has its own title", file=sys.stderr)
        return EXIT_FAILED
    source = args.study if args.study is not None else args.cohort
    if args.study is not None and args.study.suffix.lower() not in STUDY_SUFFIXES:
        print(
            f"{_shown(args.study)}: a study file ends in .yml or .yaml; build a cohort file with --cohort "
            f"{_shown(args.study)}",
            file=sys.stderr,
        )
        return EXIT_BAD_COHORT
    if not source.is_file():
        print(f"{_not_a_file(source)}; nothing was built.", file=sys.stderr)
        return EXIT_BAD_COHORT
    _warn_identifiers_before_build(source, is_study=args.study is not None)
    previous = {sig: signal.signal(sig, build.raise_interrupted) for sig in build.HANDLED_SIGNALS}
    try:
        where = {} if args.project is None else {"root": args.project}
        if args.study is not None:
            build.build_study(
                args.study, args.out, min_cell=args.min_cell, jobs=args.jobs, chapters=args.chapters, **where
            )
        else:
            build.build_book(
                args.cohort,
                args.out,
                title=args.title,
                min_cell=args.min_cell,
                jobs=args.jobs,
                chapters=args.chapters,
                **where,
            )
    except (build.StudyInvalid, cohort.CohortError, EnrolmentError) as exc:  # StudyInvalid: a BuildError, caught first
        if isinstance(exc, build.StudyInvalid):
            what = f"{_shown(exc.study_path)} is not a valid study"
        elif isinstance(exc, EnrolmentError):
            what = f"the screening log beside {_shown(source)} is not valid"
        else:
            what = f"{_shown(source)} is not a valid cohort"
        print(f"{what}; nothing was built.", file=sys.stderr)
        _print_problems(exc.problems)
        return EXIT_BAD_COHORT
    except build.Interrupted as exc:
        print(
            f"{exc}: workers stopped, nothing half-built kept; {_shown(args.out)} was left as it was.", file=sys.stderr
        )
        return exc.exit_code
    except build.BuildError as exc:
        print(f"build failed; {_shown(args.out)} was left as it was.\n{exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hsct-book`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            if args.cohort.suffix.lower() in STUDY_SUFFIXES:
                return run_validate_study(args.cohort)
            return run_validate(args.cohort)
        if args.command == "init":
            return run_init(args.directory, args.cohort, args.sheet)
        if args.command == "template":
            return run_template(args.directory)
        return run_build(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
