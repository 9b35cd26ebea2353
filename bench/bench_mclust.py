"""The whole fourteen-model table (K = 1..9) against R's mclust `mclustBIC`, timed in the same run.

Both sides get the same data and do one start per cell from the same start (mclust's hierarchical clustering, on a
random subset of 2,000 rows above that size, as mclust does) and stop by the same rule, mclust's default
(`stopping="relative"`, tol = 1e-5: |L_t - L_t-1| < tol (1 + |L_t|)), so the work is the same table. emtheory's own
defaults are timed too: the same start with its tighter rule (a change below 1e-6 per sample), and five starts per
cell. mclust runs single-threaded Fortran; emtheory is timed with n_jobs=1 and with its
default, threads on both cores. Times are wall-clock seconds inside each process (R's startup and library loading
excluded), the median of `--reps` interleaved repeats. R must be installed with mclust (Debian: r-cran-mclust).

    python bench/bench_mclust.py              # Old Faithful and N = 20,000 x 5
    python bench/bench_mclust.py --quick      # Old Faithful only, one repeat
"""
import argparse, os, subprocess, tempfile, time, warnings
import numpy as np
from emtheory.datasets import load_faithful
from emtheory.select import select_mixture

R = r"""
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv(commandArgs(TRUE)[1]))
set.seed(0)
t <- system.time(b <- mclustBIC(X, G = 1:9, verbose = FALSE))[["elapsed"]]
a <- which(b == max(b, na.rm = TRUE), arr.ind = TRUE)[1, ]
cat(sprintf("%.6f %s %s %d\n", t, colnames(b)[a[2]], rownames(b)[a[1]], sum(is.na(b))))
"""

def simulated(N=20000, D=5, seed=0):
    "Four well-separated Gaussian clusters in D dimensions with different covariances."
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4., size=(4, D))
    y = rng.integers(4, size=N)
    A = rng.normal(size=(4, D, D)) / np.sqrt(D)
    return means[y] + np.einsum('nij,nj->ni', A[y], rng.normal(size=(N, D)))

def r_table(path):
    out = subprocess.run(["Rscript", "-e", R, path], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), f"{out[1]},{out[2]}", int(out[3])

def ours(X, **kw):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = select_mixture(X, random_state=0, **kw)
    b = s.best_row_
    return time.perf_counter() - t, f"{b['model']},{b['n_components']}", sum(r["reason"] is not None for r in s.table)

def bench(name, X, reps):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.csv")
        np.savetxt(path, X, delimiter=",", header=",".join(f"x{j}" for j in range(X.shape[1])), comments="")
        same = dict(init_params="hc", n_init=1, tol=1e-5, stopping="relative")   # mclust's start and stopping rule
        runs = dict(mclust=lambda: r_table(path), hc1=lambda: ours(X, n_jobs=1, **same), hc2=lambda: ours(X, **same),
                    tight=lambda: ours(X, init_params="hc", n_init=1), default=lambda: ours(X))
        res = {k: [] for k in runs}
        for _ in range(reps):
            for k, f in runs.items(): res[k].append(f())
    med = {k: float(np.median([r[0] for r in v])) for k, v in res.items()}
    pick = {k: v[-1][1] for k, v in res.items()}
    na = {k: v[-1][2] for k, v in res.items()}
    m = med["mclust"]
    print(f"| {name} | {m:.2f} s ({pick['mclust']}, {na['mclust']} NA) | {med['hc1']:.2f} s ({m / med['hc1']:.2f}x) "
          f"| {med['hc2']:.2f} s ({m / med['hc2']:.2f}x; {pick['hc2']}, {na['hc2']} NA) "
          f"| {med['tight']:.2f} s ({m / med['tight']:.2f}x) | {med['default']:.2f} s ({m / med['default']:.2f}x; {pick['default']}) |")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    reps = 1 if a.quick else a.reps
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores\n")
    print("| data | mclustBIC (choice, NA cells) | emtheory, mclust's start and rule, 1 thread (speed-up) "
          "| the same, 2 threads (speed-up; choice, NA cells) | hc start, emtheory's tolerance, 2 threads (speed-up) "
          "| emtheory's default: 5 starts (speed-up; choice) |\n|:--|--:|--:|--:|--:|--:|")
    bench("Old Faithful, 272 x 2", load_faithful()[0], reps)
    if not a.quick: bench("simulated, 20000 x 5", simulated(), reps)
