"""Wall time of emtheory.select.select_mixture: serial against two worker processes and two threads, in one run.

The same grid is run serially (n_jobs=1), on 2 processes and on 2 threads, interleaved, `--reps` times; the table
reports the median wall time and the ratio serial / parallel (above 1: the workers help). Two data sets: Old
Faithful (272 x 2, the full 4 x 9 grid, 5 starts per cell) and a 3-D sample large enough for the E-step's own
threads to switch on (N = 40000, K = 1..4, 2 starts per cell). Every run must return the identical table.

    python bench/bench_select.py            # both data sets
    python bench/bench_select.py --quick    # Old Faithful only, one repeat
"""
import argparse, time
import numpy as np
from emtheory.datasets import load_faithful
from emtheory.select import select_mixture

def large(N=40000, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0., 0, 0], [4, 0, 0], [0, 4, 1], [3, 3, 3]])
    y = rng.integers(4, size=N)
    return means[y] + rng.normal(size=(N, 3)) @ np.diag([1., .7, 1.3])

def bench(name, X, kw, reps):
    modes = dict(serial=dict(n_jobs=1), processes=dict(n_jobs=2), threads=dict(n_jobs=2, backend="threads"))
    times, tables = {m: [] for m in modes}, {}
    for _ in range(reps):
        for m, extra in modes.items():
            t = time.perf_counter()
            tables[m] = select_mixture(X, random_state=0, **kw, **extra).table
            times[m].append(time.perf_counter() - t)
    assert tables["processes"] == tables["serial"] == tables["threads"], "the tables differ"
    med = {m: float(np.median(v)) for m, v in times.items()}
    print(f"| {name} | {med['serial']:.2f} s | {med['processes']:.2f} s ({med['serial'] / med['processes']:.2f}x) "
          f"| {med['threads']:.2f} s ({med['serial'] / med['threads']:.2f}x) |")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    print("| data, grid | serial | 2 processes (speed-up) | 2 threads (speed-up) |\n|:--|--:|--:|--:|")
    X, _ = load_faithful()
    bench("Old Faithful, 4 x 9 cells, 5 starts", X, dict(n_init=5), 1 if a.quick else a.reps)
    if not a.quick: bench("N = 40000, D = 3, 4 x 4 cells, 2 starts", large(), dict(n_components=range(1, 5), n_init=2, max_iter=200), a.reps)
