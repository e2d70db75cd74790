# lmhld_qgis: `make setup` then `make test` is all a fresh Debian 12 machine needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SYS_PY := /usr/bin/python3
APT_PACKAGES := qgis python3-qgis qgis-providers python3-rasterio python3-pyproj \
                python3-h5py python3-matplotlib python3-venv xvfb xauth
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done
PLUGIN_ZIP := dist/lmhld_qgis.zip

.PHONY: setup test test-fast lint typecheck package bench demo smoke clean screenshots

setup: $(STAMP_PIP) smoke

# System packages: only when one is missing, so a second `make setup` costs nothing.
$(STAMP_APT):
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@[ -x $(PY) ] || $(SYS_PY) -m venv --system-site-packages $(VENV)
	@touch $@

$(STAMP_PIP): $(STAMP_APT) requirements.txt lmhld_qgis/requirements.txt pyproject.toml
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

smoke:
	@$(PY) tools/smoke.py

test: $(STAMP_PIP)
	$(VENV)/bin/ruff check lmhld_qgis tests bench tools
	$(MAKE) --no-print-directory typecheck
	$(PY) -m pytest -q

test-fast: $(STAMP_PIP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP_PIP)
	$(VENV)/bin/ruff check lmhld_qgis tests bench tools
	$(MAKE) --no-print-directory typecheck

# mypy --strict on core, models, training and workflows; its settings are [tool.mypy] in pyproject.toml.
typecheck: $(STAMP_PIP)
	$(VENV)/bin/mypy

package: $(PLUGIN_ZIP)

$(PLUGIN_ZIP): $(shell find lmhld_qgis -name '*.py' -o -name '*.svg' -o -name '*.qml' -o -name '*.txt') metadata.txt
	$(PY) tools/package.py --out $@

# Every dialog and the map with results, in the real QGIS desktop (Xvfb), as PNGs under screenshots/: look at them.
screenshots: $(STAMP_PIP)
	$(PY) tools/screenshots.py

bench: $(STAMP_PIP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

demo: $(STAMP_PIP)
	$(VENV)/bin/lmhld demo --out demo_out --overwrite

clean:
	rm -rf dist build .pytest_cache .mypy_cache .qgis-settings demo_out screenshots
