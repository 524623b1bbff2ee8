# One entry point for students, instructors and CI.  `make help` lists the targets.
# Everything runs inside $(VENV), which the first target that needs it creates.

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= tiny
# torch/torchvision builds verified for the kit on Linux x86_64 (Python 3.11).
# On another platform pick the pair for your machine, e.g. make TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

PY  := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help env book test test-fast labs grade autograde feedback grades summary hub hub-env \
        browser sandbox clean

help:
	@echo "make book        build the HTML book into _build/html (PROFILE=tiny|quick|full)"
	@echo "make test        run the whole test suite (installs what it needs)"
	@echo "make test-fast   unit tests only (no notebooks, book or browser)"
	@echo "make labs        regenerate labs/ from solutions/ with nbgrader"
	@echo "make grade SUBMISSIONS=dir|zip [LAB=name] [JOBS=n]   grade a class in sandboxes:"
	@echo "                 gradebook, feedback/, grades.csv, summary/ (resumes if interrupted)"
	@echo "make autograde SUBMISSIONS=dir|zip [LAB=name]   the same without the reports"
	@echo "make feedback [LAB=name]   write HTML feedback for autograded submissions"
	@echo "make grades      export all grades to grades.csv"
	@echo "make summary     score distribution and pass rate per test, per lab (summary/)"
	@echo "make sandbox     install bubblewrap (the grading sandbox) if it is missing"
	@echo "make hub         start the course's JupyterHub (hub/, as root; see the instructor guide)"
	@echo "make browser     install Chromium and axe-core (the browser test) if missing"
	@echo "make env         create $(VENV) with the package and the book/grading/test tools"

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	# torchattacks (the robustness tests' reference) pins requests~=2.25, which Sphinx
	# rejects; it never uses requests for what the tests do, so install it without deps.
	$(PY) -m pip install --quiet --no-deps torchattacks==3.5.1
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# UMAP's kernels, compiled once (about 40 s) into numba's cache in $(VENV)'s
	# __pycache__ folders, so that no notebook run, shell or Jupyter, pays for it.
	$(PY) -W ignore -c "from helpers import robustness; robustness.warm_up_umap()"
	touch $@

# The whole suite: helpers unit tests, notebook runs with the fidelity checks, the
# grading round trip in the sandbox, conventions, the book build and the browser check.
# Two workers: the book build (with the tests that read it) runs beside the grading
# batch and the unit tests; the summary lists the slowest tests and seconds per file.
# One thread per process: two workers (and the sandboxes) already fill the two cores, and
# torch threads competing for them slow every run down several times.
test: env browser sandbox hub-env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadgroup --durations=20

test-fast: env sandbox
	$(BIN)/pytest -m "not slow"

clean:
	rm -rf _build outputs gradebook.db submitted autograded feedback summary grades.csv \
	       solutions_html


# --- book and browser -------------------------------------------------------------------
# The book executes every walkthrough (TAI_PROFILE=$(PROFILE)) and fails on any warning.
# MathJax is vendored first (npm, once) so that the HTML renders math offline.
book: env
	bash book/_scripts/vendor_mathjax.sh
	TAI_PROFILE=$(PROFILE) $(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "Book: $(CURDIR)/_build/html/index.html"

# $(call apt_install,PACKAGE,PROGRAM): install a Debian package with apt-get (as root, or
# through sudo) unless PROGRAM (an absolute path) already exists and runs.
define apt_install
	@if [ -x $(2) ]; then \
	    echo "$(1) is installed: $(2)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	    echo "error: $(2) is missing and this is not a Debian/Ubuntu system (no apt-get)." >&2; \
	    echo "       Install $(1) so that $(2) exists, then run the tests again." >&2; \
	    exit 1; \
	elif [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(1); \
	elif command -v sudo >/dev/null 2>&1; then \
	    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $(1); \
	else \
	    echo "error: $(2) is missing; install it as root: apt-get install -y $(1)" >&2; \
	    exit 1; \
	fi
	@test -x $(2) || { echo "error: the $(1) package did not provide $(2)" >&2; exit 1; }
endef

# Debian's chromium, driven headless by playwright in tests/test_browser.py, and axe-core
# (npm), the accessibility checker that test injects into every page from disk.
NPM_CACHE   ?= $(or $(TAI_NPM_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/trustworthy-ai/npm)
AXE_VERSION ?= 4.14.1
AXE_PACKAGE := $(NPM_CACHE)/axe/node_modules/axe-core

browser:
	$(call apt_install,chromium,/usr/bin/chromium)
	@if grep -qs '"version": "$(AXE_VERSION)"' $(AXE_PACKAGE)/package.json; then \
	    echo "axe-core $(AXE_VERSION) is installed: $(AXE_PACKAGE)"; \
	elif ! command -v npm >/dev/null 2>&1; then \
	    echo "error: npm is missing; install Node.js/npm (apt-get install -y npm) for axe-core" >&2; \
	    exit 1; \
	else \
	    npm install --prefix $(NPM_CACHE)/axe --no-save --no-audit --no-fund --loglevel=error \
	        --fetch-timeout=60000 --fetch-retries=1 axe-core@$(AXE_VERSION); \
	fi

# Debian's bubblewrap: the sandbox every submission is graded in (helpers/grading/sandbox.py;
# without it, see the instructor guide: grade inside a container).
sandbox:
	$(call apt_install,bubblewrap,/usr/bin/bwrap)


# --- a course on JupyterHub (hub/) ------------------------------------------------------
# The hub's proxy from npm (hub/package.json, pinned by hub/package-lock.json).
hub-env: hub/node_modules/.installed

hub/node_modules/.installed: hub/package.json hub/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is missing (apt-get install -y npm)" >&2; exit 1; }
	cd hub && npm ci --no-audit --no-fund --loglevel=error --fetch-timeout=60000
	touch $@

# Start the course's hub on this machine (as root; create the users with hub/users.sh and
# the exchange with `python -m helpers.grading exchange setup`; see the instructor guide).
hub: env hub-env
	$(BIN)/jupyterhub -f hub/jupyterhub_config.py

# --- labs and grading (nbgrader_config.py, helpers/grading/) -----------------------------
# State lives in the repo root and is gitignored: gradebook.db submitted/ autograded/
# feedback/ summary/ grades.csv.  LAB=<chapter> restricts a target to one lab;
# JOBS=<n> sets the number of parallel sandboxes (default: number of cores).
GRADE_ARGS = "$(SUBMISSIONS)" $(if $(LAB),--lab $(LAB)) $(if $(JOBS),--jobs $(JOBS))

labs: env
	$(PY) -m helpers.grading release $(LAB)

grade autograde: env sandbox
	@test -n "$(SUBMISSIONS)" || { \
	    echo "error: set SUBMISSIONS to a folder laid out as <student>/<lab>/<lab>_lab.ipynb" >&2; \
	    echo "       or to an LMS zip, e.g. make $@ SUBMISSIONS=~/inbox LAB=generalization" >&2; \
	    exit 2; }
	$(PY) -m helpers.grading $@ $(GRADE_ARGS)

feedback: env
	$(PY) -m helpers.grading feedback $(if $(LAB),--lab $(LAB))

grades: env
	$(PY) -m helpers.grading export --to grades.csv

summary: env
	$(PY) -m helpers.grading summary $(if $(LAB),--lab $(LAB))
