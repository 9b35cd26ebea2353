"""The E-step cost model's constants: one pass of each form timed on this machine, fitted per row and unit of work.

For K in (4, 8, 16) and D from 2 to 128 (full covariance, two threads, BLAS on one thread each, as in a fit), one
E-step pass over N rows is timed in each form: features built per chunk, features cached, whitened. The time per row
is the median over 5 repeats. Then non-negative least squares, in relative error,
fits the model of emtheory.gaussian.form_costs:

    features built:   softmax * K + phi * M + features * K * M        (M = D(D+1)/2 + D + 1)
    features cached:  softmax * K +           features * K * M
    whitened:         softmax * K + rows * K * D + whitened * K * D^2

and prints the table, the fitted constants (FORM_COSTS, to 3 digits) and the crossover D per K that they imply. With
--out, the same is written as a Markdown file (the machine and its load in its header, the table in the Gaussian
chapter's format, its last column `choose_form` with the constants as printed), which the chapter reads.

    python bench/crossover.py
    python bench/crossover.py --out bench/RESULTS_crossover.md
"""
import argparse, os, time
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

HEAD = ("| K | D | features built | features cached | whitened | model's choice (built / cached) |\n"
        "|---|---|---|---|---|---|")

def crossovers(Ks=(4, 8, 16, 32))->list:
    "[(K, D built, D cached)]: the least D at which choose_form takes the whitened form, with the features built or cached."
    import emtheory.gaussian as g
    first = lambda K, cached: next((D for D in range(2, 400) if g.choose_form(D, K, "full", cached) == "whitened"), None)
    return [(K, first(K, False), first(K, True)) for K in Ks]

def table(rows)->str:
    "The Markdown table: ns per row of each form, and the form choose_form takes (features built / cached)."
    from emtheory.gaussian import choose_form
    return HEAD + "".join(f"\n| {r['K']} | {r['D']} | {r['built']*1e9:.0f} | {r['cached']*1e9:.0f} | {r['whitened']*1e9:.0f} "
                          f"| {choose_form(r['D'], r['K'], 'full')} / {choose_form(r['D'], r['K'], 'full', True)} |" for r in rows)

def costs_line(costs)->str:
    return "FORM_COSTS = dict(" + ", ".join(f"{k}={v:.3g}" for k, v in costs.items()) + ")"

def crossover_lines()->list:
    return [f"K={K:>2} features {'cached' if c else 'built '}: whitened from D = {D}"
            for K, Db, Dc in crossovers() for c, D in ((False, Db), (True, Dc))]

def machine()->str:
    "numpy, scipy and the BLAS that threadpoolctl sees, with its default threads."
    import scipy
    from threadpoolctl import threadpool_info
    blas = "; ".join(f"{os.path.basename(os.path.dirname(i['filepath']))} ({i['internal_api']} {i['version']}, "
                     f"{i['num_threads']} threads by default)" for i in threadpool_info() if i["user_api"] == "blas")
    return f"numpy {np.__version__}, scipy {scipy.__version__}; BLAS: {blas or 'not seen by threadpoolctl'}"

def markdown(rows, costs, note)->str:
    "The file --out writes: title, what was measured, `note` (when and where), the table, the constants, the crossover."
    return ("# E-step forms timed, and the cost model fitted to them (written by `python bench/crossover.py --out`)\n\n"
            "One E-step pass of each form (full covariance; features built per chunk, features cached, whitened) over N "
            "rows, N = min(100,000, max(4,000, 3e8 / (4 K D^2))), timed by `bench/crossover.py` (method in its docstring): "
            "ns per row, median of 5 passes. The executor is a fit's, `emtheory.core.Threads(X, 2)`: 4096-row pieces, in "
            "2 threads with BLAS on one thread each when a pass has at least 4 pieces, else in sequence (BLAS on one thread "
            "for 2 or 3 pieces, on its own threads for one). The constants "
            "are fitted to these times by non-negative least squares in relative error; the last column is "
            "`emtheory.gaussian.choose_form` with those constants as printed.\n\n" + note + "\n\n" + table(rows) +
            "\n\nFitted constants, seconds per row and unit of work: `" + costs_line(costs) + "`." +
            "\n\nWhere the whitened form becomes the cheaper by these constants:\n\n" +
            "".join(f"- K = {K}: from D = {Db} (features built per chunk), D = {Dc} (features cached)\n"
                    for K, Db, Dc in crossovers()))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the table and the constants to this Markdown file")
    a = ap.parse_args(argv)
    start, load0 = time.gmtime(), os.getloadavg()
    rows = measure()
    costs = {k: float(f"{v:.3g}") for k, v in fit(rows).items()}   # as printed: what FORM_COSTS is given
    print(costs_line(costs))
    import emtheory.gaussian as g
    g.FORM_COSTS.update(costs)
    for line in crossover_lines(): print(line)
    if a.out:
        note = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', start)} to {time.strftime('%H:%M UTC', time.gmtime())} "
                f"on {os.cpu_count()} cores; load average (1 min) {load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} "
                f"at the end; {machine()}.")
        with open(a.out, "w") as f: f.write(markdown(rows, costs, note))
        print(f"written to {a.out}")

if __name__ == "__main__":
    main()
