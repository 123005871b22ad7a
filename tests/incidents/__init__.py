"""The incident suite: scenarios with known causes (``*.toml``, README.md), and the
test-only policies some of them run (``policies.py``)."""
