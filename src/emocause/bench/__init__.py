"""Benchmark results: one row format, JSON files per benchmark, and the RESULTS.md report."""
