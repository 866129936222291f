# Two commands do everything: `make book` and `make test`.
# Both create .venv on first use and install the pinned dependencies (constraints.txt).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
COHORT ?= data/cohort.csv
OUT    ?= _build/html

.PHONY: book test cohort reference bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/hsct-book build --cohort $(COHORT) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

cohort: $(STAMP)
	$(BIN)/python -m hsct_analysis.synth --out data/cohort.csv

# Needs R with the survival and cmprsk packages (apt-get install r-base-core r-cran-survival r-cran-cmprsk).
reference:
	cd tests/reference && Rscript make_reference.R

bench: $(STAMP)
	$(BIN)/python benchmarks/competing_risks.py

clean:
	rm -rf _build .cache book/*.ipynb book/methods/*.ipynb
