"""Benchmarks: real gunicorn servers driven from a separate process (see bench/README.md).

The servers, their settings, the private databases and the tokens come from the test
suites' live-server harness (tests/support, imported as `support` like the tests do):
tests/ goes on the module path here, so `python -m bench.run` from the repository root
needs nothing else.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
