"""The timing loop both bench_python.py scripts share."""

import time


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_row_ns(predict, rows, calls):
    """Best of 3, in ns per row: predict called on one row at a time (the first
    `calls` rows, as a per-event scorer written in Python would call it), and on
    all rows in one call."""
    singles = [rows[i : i + 1] for i in range(calls)]
    predict(singles[0])  # warm up

    def single():
        for r in singles:
            predict(r)

    t_single = best_of(single, 3) / calls
    t_batch = best_of(lambda: predict(rows), 3) / len(rows)
    return t_single * 1e9, t_batch * 1e9
