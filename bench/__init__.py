"""Benchmarks for the Bento Event Composer: each prints figures, none asserts on time.

    python -m bench.prepare --rows 1000000 --format csv   # read+map+validate+payloads
    python -m bench.send --events 100000                  # our client vs bare requests.post
    python -m bench.data --rows 100000 --format xlsx      # only make the input

Inputs are generated (seeded) under bench/out/ and reused; see bench/RESULTS.md.
"""
