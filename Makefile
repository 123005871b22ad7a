# The two commands of the README's quick start, and a few more.
.PHONY: demo test check lint bench clean

demo:  ## install juggler into .venv and run the built-in seed story
	@bash scripts/setup.sh
	.venv/bin/juggler simulate

# The fast lane: everything but real QEMU guests, browsers, terminals and slow runs,
# on both cores (pytest-xdist); the whole suite runs serially, as lab runs share the
# cgroup, the swap and the cores.
FAST = not lab and not browser and not terminal and not slow

test:  ## install what the tests need (Python packages, QEMU, busybox) and run them all
	@bash scripts/setup.sh --test
	$(MAKE) --no-print-directory lint
	.venv/bin/python -m pytest -q
	.venv/bin/python benchmarks/engine.py --smoke

check: lint  ## the fast lane to run while working: lint, format, types, the fast tests
	.venv/bin/python -m pytest -q -n 2 -m "$(FAST)"

lint:  ## ruff, ruff format and mypy: a lint or type error fails in seconds
	@.venv/bin/python -c "import mypy, xdist, pytest_timeout" 2>/dev/null || bash scripts/setup.sh --test
	.venv/bin/ruff check src tests benchmarks scripts
	.venv/bin/ruff format --check src tests benchmarks scripts
	.venv/bin/mypy

bench:  ## the engine benchmark at full size (by hand; prints the machine and the figures)
	.venv/bin/python benchmarks/engine.py

clean:
	rm -rf .venv runs .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
