"""Factor analysis by EM (emtheory.factor.FactorAnalysisEM) against scikit-learn's FactorAnalysis: time to the same log-likelihood.

The data: N rows from a factor-analysis model with D features, q factors and uniquenesses spread over [0.2, 2].
For each of scikit-learn's SVD methods ('randomized', its default, and 'lapack'), scikit-learn is fitted with its
default stopping rule (tol=1e-2 on the total log-likelihood), and the log-likelihood per sample it reaches is the
target. EM's cost to the same target: one untimed run records EM's log-likelihood after every iteration, the first
iteration count k at which it is at or above the target is read off, and a fit with tol=0, max_iter=k (exactly k
iterations, the one pass that forms S included) is timed. Every timing is the median of 3 repeats, interleaved with
scikit-learn's so that a change of load hits both; the ratio is also given repeat by repeat. A last pair of rows
runs both to a tight rule (EM: tol=1e-10 per sample; scikit-learn: tol=1e-8 on the total) and reports where they stop.

    python bench/bench_factor.py            # N=100,000, D=50, q=5
    python bench/bench_factor.py --quick    # N=10,000, D=20, q=3
"""
import argparse, os, platform, time, warnings
import numpy as np
from sklearn.decomposition import FactorAnalysis
from emtheory.factor import FactorAnalysisEM

def make_data(N, D, q, seed=0):
    "A factor-analysis sample: loadings N(0, 1) scaled by factor, uniquenesses uniform on [0.2, 2], a non-zero mean."
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, q)) * np.linspace(2, 1, q)
    psi = rng.uniform(0.2, 2, size=D)
    return rng.normal(size=(N, q)) @ W.T + rng.normal(size=(N, D)) * np.sqrt(psi) + rng.normal(size=D)

def fitted(make, X):
    "Seconds for one fit, and the estimator (warnings silenced: tol=0 fits warn by design)."
    est = make()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return time.perf_counter() - t, est

def iterations_to(X, q, target, max_iter=20000):
    "The first EM iteration count whose log-likelihood per sample is at or above target (an untimed run)."
    _, est = fitted(lambda: FactorAnalysisEM(q, tol=0, max_iter=max_iter, random_state=0), X)
    ll = est.history_["log_likelihood"] / len(X)
    hit = np.flatnonzero(ll >= target)
    return int(hit[0]) + 1 if len(hit) else None

def compare(X, q, svd_method, reps=3):
    "Timings (s) of scikit-learn's default fit and of EM to its log-likelihood, interleaved; the target; k."
    sk_make = lambda: FactorAnalysis(q, svd_method=svd_method, random_state=0)
    target = fitted(sk_make, X)[1].score(X)
    k = iterations_to(X, q, target)
    t_sk, t_em, sk = [], [], None
    for _ in range(reps):
        t, sk = fitted(sk_make, X); t_sk.append(t)
        t, em = fitted(lambda: FactorAnalysisEM(q, tol=0, max_iter=k, random_state=0), X); t_em.append(t)
    return np.array(t_sk), np.array(t_em), target, k, sk, em

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N=10,000, D=20, q=3")
    a = p.parse_args(argv)
    N, D, q = (10_000, 20, 3) if a.quick else (100_000, 50, 5)
    X = make_data(N, D, q)
    print(f"N={N} D={D} q={q}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'scikit-learn svd_method':<24} {'sklearn s':>10} {'sk iters':>8} {'target ll/sample':>17} "
          f"{'EM iters':>8} {'EM s':>8} {'EM ll/sample':>15} {'ratio':>7} {'ratio per repeat':>18}")
    for m in ("randomized", "lapack"):
        t_sk, t_em, target, k, sk, em = compare(X, q, m)
        r = t_sk / t_em
        print(f"{m:<24} {np.median(t_sk):>10.3f} {sk.n_iter_:>8} {target:>17.10f} {k:>8} {np.median(t_em):>8.3f} "
              f"{em.score(X):>15.10f} {np.median(t_sk) / np.median(t_em):>6.1f}x {f'{r.min():.1f}-{r.max():.1f}x':>18}")
    print("tight rules (one fit each):")
    for name, make in [("EM, tol=1e-10 per sample", lambda: FactorAnalysisEM(q, tol=1e-10, max_iter=20000, random_state=0)),
                       ("sklearn lapack, tol=1e-8", lambda: FactorAnalysis(q, tol=1e-8, max_iter=20000, svd_method="lapack",
                                                                           random_state=0))]:
        t, est = fitted(make, X)
        print(f"  {name:<26} {t:>8.3f} s {est.n_iter_:>6} iterations, log-likelihood per sample {est.score(X):.10f}")

if __name__ == "__main__":
    main()
