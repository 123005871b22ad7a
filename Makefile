# The two commands of the README's quick start, and a few more.
.PHONY: demo test lint bench clean

demo:  ## install juggler into .venv and run the built-in seed story
	@bash scripts/setup.sh
	.venv/bin/juggler simulate

test:  ## install what the tests need (Python packages, QEMU, busybox) and run them all
	@bash scripts/setup.sh --test
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/python -m pytest -q
	.venv/bin/python benchmarks/engine.py --smoke

lint:
	.venv/bin/ruff check src tests benchmarks

bench:  ## the engine benchmark at full size (by hand; prints the machine and the figures)
	.venv/bin/python benchmarks/engine.py

clean:
	rm -rf .venv runs .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
