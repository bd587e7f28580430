"""Benchmarks and scale measurements for feedsvc (not shipped with the package).

``python bench/run.py [--quick]`` measures request throughput against real
baselines; ``python bench/scale.py`` measures start-up, memory and reloads at
10k and 100k articles; ``python bench/generate.py`` writes synthetic content.
See ``bench/README.md``.
"""
