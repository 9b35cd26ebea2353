"""Timing helpers shared by the benchmarks: per-iteration time as (t6 - t1) / 5, interleaved between estimators.

Each repeat times every estimator once with max_iter=1 and once with max_iter=6 (tol=0, so exactly that many
iterations), one estimator after the other, so that a change of the machine's load hits all of them alike; the
difference removes set-up and initialisation. The median over repeats is reported.
"""
import time, tracemalloc, warnings
import numpy as np

def timed(make, X, m):
    "Seconds to fit make(m) on X, and the fitted estimator."
    est = make(m)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return time.perf_counter() - t, est

def repeats(makers:dict, X, reps:int=5):
    "name -> (the reps values of (t6 - t1) / 5 in order, the estimator fitted with 6 iterations), interleaved."
    d = {k: [] for k in makers}
    last = {}
    for _ in range(reps):
        for k, make in makers.items():
            t1, _ = timed(make, X, 1)
            t6, last[k] = timed(make, X, 6)
            d[k].append((t6 - t1) / 5)
    return {k: (v, last[k]) for k, v in d.items()}

def per_iteration(makers:dict, X, reps:int=5):
    "name -> (median over reps of (t6 - t1) / 5, the estimator fitted with 6 iterations), interleaved."
    return {k: (float(np.median(v)), e) for k, (v, e) in repeats(makers, X, reps).items()}

def ratio_range(times:dict, num:str, den:str)->tuple:
    "(lowest, highest) of num's time over den's, repeat by repeat: the two were timed next to each other."
    r = np.array(times[num][0]) / np.array(times[den][0])
    return float(r.min()), float(r.max())

def peak_mib(make, X, m=6):
    "tracemalloc's peak (MiB) during one fit of m iterations, over what existed before (the data)."
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make(m).fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20
