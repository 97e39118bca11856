"""Benchmarks: real gunicorn servers driven from a separate process (see bench/README.md)."""
