"""Probabilistic PCA by EM (emtheory.latent.PPCA) against scikit-learn's PCA (one SVD) and FactorAnalysis (EM-like).

Per-iteration time of the two iterative methods: (time for 6 iterations - time for 1) / 5 with tol=0, the median of
3 interleaved repeats (bench/timing.py); PCA is not iterative, so its whole fit is timed (3 repeats, median). Then
one fit of each to a tolerance (PPCA: 1e-6 per sample; scikit-learn: its defaults), reporting iterations, total time and the log-likelihood per sample
reached, next to the closed-form pPCA maximum (Tipping & Bishop). scikit-learn's PCA.score uses the N-1 covariance,
so the pPCA log-likelihood of PCA's axes is also reported with the maximum-likelihood (N) scaling.

    python bench/bench_ppca.py            # N=100,000, D=50, q=5
    python bench/bench_ppca.py --quick    # N=10,000, D=20, q=3
"""
import argparse, time, warnings
import numpy as np
from sklearn.decomposition import PCA, FactorAnalysis
from emtheory.latent import PPCA, ppca_mle
from timing import per_iteration

def make_data(N, D, q, seed=0):
    "A pPCA sample: q latent factors with well-separated loadings, unit isotropic noise."
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, q)) * np.linspace(3, 1, q)
    return rng.normal(size=(N, q)) @ W.T + rng.normal(size=(N, D)) + rng.normal(size=D)

def fitted(make, X):
    "Seconds for one fit, and the estimator."
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X)
    return time.perf_counter() - t, est

def run(N, D, q):
    X = make_data(N, D, q)
    ll_max = ppca_mle(X - X.mean(0), q)[1] / N
    it = per_iteration(dict(emtheory=lambda m: PPCA(q, tol=0, max_iter=m, random_state=0),
                            factor_analysis=lambda m: FactorAnalysis(q, tol=0, max_iter=m, random_state=0)), X)
    pca_t = float(np.median([fitted(lambda: PCA(q), X)[0] for _ in range(3)]))
    rows = {}
    for name, make in [("emtheory PPCA (tol 1e-6)", lambda: PPCA(q, tol=1e-6, max_iter=2000, random_state=0)), ("sklearn FactorAnalysis", lambda: FactorAnalysis(q, random_state=0)),
                       ("sklearn PCA", lambda: PCA(q))]:
        t, est = fitted(make, X)
        rows[name] = (t, getattr(est, "n_iter_", 1), est.score(X))
    pca = rows["sklearn PCA"]
    c = N / (N - 1)   # PCA's covariance is c times the ML one; at the maximum tr(C^-1 S) = D
    pca_ml = pca[2] + D / 2 * (np.log(c) - (1 - 1 / c))
    return X, ll_max, it, pca_t, rows, pca_ml

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N=10,000, D=20, q=3")
    a = p.parse_args(argv)
    N, D, q = (10_000, 20, 3) if a.quick else (100_000, 50, 5)
    X, ll_max, it, pca_t, rows, pca_ml = run(N, D, q)
    print(f"N={N} D={D} q={q}; closed-form pPCA maximum: {ll_max:.10f} nats/sample")
    t_us, t_fa = it["emtheory"][0], it["factor_analysis"][0]
    print(f"per iteration: emtheory PPCA {t_us*1e3:.2f} ms, sklearn FactorAnalysis {t_fa*1e3:.2f} ms "
          f"(ratio {t_fa / t_us:.1f}x); sklearn PCA whole fit {pca_t*1e3:.1f} ms = {pca_t / t_us:.1f} PPCA iterations")
    print(f"{'estimator':<24} {'fit s':>8} {'iters':>6} {'log-lik/sample':>16} {'below max':>10}")
    for name, (t, n, s) in rows.items():
        print(f"{name:<24} {t:>8.3f} {n:>6} {s:>16.10f} {ll_max - s:>10.2e}")
    print(f"{'sklearn PCA (N scaling)':<24} {'':>8} {'':>6} {pca_ml:>16.10f} {ll_max - pca_ml:>10.2e}")

if __name__ == "__main__":
    main()
