"""The E-step cost model's constants: one pass of each form timed on this machine, fitted per row and unit of work.

For K in (4, 8, 16) and D from 2 to 128 (full covariance, two threads, BLAS on one thread each, as in a fit), one
E-step pass over N rows is timed in each form: features built per chunk, features cached, whitened. The time per row
is the median over 5 repeats. Then non-negative least squares, in relative error,
fits the model of emtheory.gaussian.form_costs:

    features built:   softmax * K + phi * M + features * K * M        (M = D(D+1)/2 + D + 1)
    features cached:  softmax * K +           features * K * M
    whitened:         softmax * K + rows * K * D + whitened * K * D^2

and prints the table, the fitted constants (FORM_COSTS) and the crossover D per K that they imply.

    python bench/crossover.py
"""
import time
import numpy as np
from scipy.optimize import nnls
from emtheory.em import GaussianEM, GaussianParams
from emtheory.gaussian import precision_cholesky, n_features_phi
from emtheory.core import Threads

def _state(D, K, rng):
    means = rng.normal(scale=2, size=(K, D))
    A = rng.normal(size=(K, D, D)) / np.sqrt(D)
    covs = A @ A.transpose(0, 2, 1) + np.eye(D)
    return GaussianParams(np.full(K, 1 / K), means, covs, precision_cholesky(covs, "full"))

def pass_time(form, D, K, N, cached, reps=5):
    "Seconds per row of one E-step pass (median over reps)."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    m = GaussianEM(np.zeros(D), "full")
    m.form = form
    s = _state(D, K, rng)
    ex = Threads(X, 2, cache_bytes=2**40 if cached else 0)   # the E-step's executor: two threads over 4096-row pieces
    if cached:   # force the cache whatever its size (the rule that limits it is not what is measured here)
        from emtheory import gaussian as g
        old, g.CACHE_RATIO = g.CACHE_RATIO, 10**9
    try: ex.e_step(m, s)   # the first pass prepares (and caches) the pieces' data
    finally:
        if cached: g.CACHE_RATIO = old
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        ex.e_step(m, s)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) / N

def measure(Ks=(4, 8, 16), Ds=(2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)):
    rows = []
    for K in Ks:
        for D in Ds:
            N = int(min(100_000, max(4000, 3e8 / (K * D * D * 4))))
            rows.append(dict(K=K, D=D, N=N, built=pass_time("features", D, K, N, False),
                             cached=pass_time("features", D, K, N, True), whitened=pass_time("whitened", D, K, N, False)))
            r = rows[-1]
            print(f"K={K:>2} D={D:>3} N={N:>6}  built {r['built']*1e9:8.0f}  cached {r['cached']*1e9:8.0f}  "
                  f"whitened {r['whitened']*1e9:8.0f} ns/row", flush=True)
    return rows

def fit(rows):
    "FORM_COSTS by non-negative least squares on relative errors."
    A, b = [], []
    for r in rows:
        M = n_features_phi(r["D"], "full")
        K, D = r["K"], r["D"]
        for y, x in ((r["built"], [K, M, K * M, 0, 0]), (r["cached"], [K, 0, K * M, 0, 0]),
                     (r["whitened"], [K, 0, 0, K * D, K * D * D])):
            A.append(np.array(x, float) / y); b.append(1.)
    c, _ = nnls(np.array(A), np.array(b))
    return dict(softmax=c[0], phi=c[1], features=c[2], rows=c[3], whitened=c[4])

def main():
    rows = measure()
    costs = fit(rows)
    print("FORM_COSTS = dict(" + ", ".join(f"{k}={v:.3g}" for k, v in costs.items()) + ")")
    import emtheory.gaussian as g
    g.FORM_COSTS.update(costs)
    for K in (4, 8, 16, 32):
        for cached in (False, True):
            D = next((D for D in range(2, 400) if g.choose_form(D, K, "full", cached) == "whitened"), None)
            print(f"K={K:>2} features {'cached' if cached else 'built '}: whitened from D = {D}")

if __name__ == "__main__":
    main()
