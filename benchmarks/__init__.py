"""cthulhu's benchmarks: ``python -m benchmarks [NAME ...]`` runs ``bench_NAME.main()``.

Benchmarks print figures (and ratios against a peer measured in the same run);
they are never part of the test suite.
"""
