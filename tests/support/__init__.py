"""Helpers shared by the suites that run real server processes."""
