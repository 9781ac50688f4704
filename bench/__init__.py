"""Benchmarks; not part of the test run. Each prints one JSON line."""
