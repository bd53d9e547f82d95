"""Benchmarks: the facade against the standard library, on Dask, and in the window."""
