# Two commands do everything: `make book` and `make test`.
# Both create .venv on first use and install the pinned dependencies (constraints.txt).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STUDY  ?= data/study.yml
OUT    ?= _build/html

.PHONY: book test check lint cohort reference bench clean venv lab

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/hsct-book build $(STUDY) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The fast loop: every test that does not build a book (target: under 60 s on 2 cores), plus the linter.
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# The chapter notebooks in JupyterLab, run by this venv's kernel; each opens with its parameters cell first
# (cohort_path, min_cell, ...), ready to edit and run. Clear the outputs before committing a notebook.
lab: $(STAMP)
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

cohort: $(STAMP)
	$(BIN)/python -m hsct_analysis.paper.synth --out data/cohort.csv --screening data/screening.csv

# Needs R with survival, cmprsk, jsonlite, MASS and KMsurv (apt-get install r-base-core r-cran-survival
# r-cran-cmprsk r-cran-jsonlite r-cran-mass r-cran-kmsurv). Writes tests/reference/*.json and
# data/examples/*/*.csv; see tests/reference/FIXTURES.md.
reference:
	cd tests/reference && Rscript make_reference.R
	cd tests/reference && Rscript api_reference.R
	cd tests/reference && Rscript examples_reference.R
	cd tests/reference && Rscript qr_rank_reference.R

bench: $(STAMP)
	$(BIN)/python benchmarks/competing_risks.py

clean:
	rm -rf _build .cache book/*.ipynb book/methods/*.ipynb
