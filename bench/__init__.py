"""Benchmark: opportunity bulk import over HTTP vs a raw PostgreSQL COPY + INSERT baseline.

Run with `make bench` (or `make bench BENCH_ARGS="--rows 20000"`); see bench/__main__.py.
"""
