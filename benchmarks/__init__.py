"""Benchmarks for `make bench`: each module's run() returns a Markdown section for docs/benchmarks.md."""
