"""Per-iteration time of exact EM: emtheory.em.GaussianMixtureEM against scikit-learn's GaussianMixture.

Both start from the identical initialisation (weights_init, means_init, precisions_init), run with tol=0 so that
max_iter=m performs exactly m E-step/M-step pairs, in the same process, interleaved (bench/timing.py). Per-iteration
time is (time for 6 iterations - time for 1 iteration) / 5, median of 5 repeats; the ratio is scikit-learn's time over
ours. The final score of both must agree to 1e-9 relative. Peak memory is tracemalloc's peak during one fit of 6
iterations, over the data itself.

    python bench/bench_em.py            # the full table (a few minutes on 2 cores)
    python bench/bench_em.py --quick    # small sizes, a smoke test
"""
import sys, argparse
import numpy as np
from sklearn.mixture import GaussianMixture
from emtheory.em import GaussianMixtureEM
from timing import repeats, ratio_range, peak_mib

def make_data(N, D, K, seed=0):
    "A K-component Gaussian mixture sample with random means and covariances, and a start from a perturbed truth."
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4, size=(K, D))
    A = rng.normal(size=(K, D, D)) / np.sqrt(D)
    covs = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(D)
    y = rng.integers(K, size=N)
    L = np.linalg.cholesky(covs)
    X = np.empty((N, D))
    for k in range(K):
        idx = np.flatnonzero(y == k)
        X[idx] = means[k] + rng.normal(size=(len(idx), D)) @ L[k].T
    start_means = means + rng.normal(scale=1.0, size=(K, D))
    return X, start_means

def inits(X, start_means, ct):
    K, D = start_means.shape
    v = X.var(0).mean()
    P = dict(full=np.stack([np.eye(D) / v] * K), tied=np.eye(D) / v, diag=np.ones((K, D)) / v, spherical=np.ones(K) / v)[ct]
    return dict(weights_init=np.full(K, 1 / K), means_init=start_means, precisions_init=P)

def run(N, D, K, ct, memory=False):
    X, sm = make_data(N, D, K)
    ini = inits(X, sm, ct)
    ours = lambda m: GaussianMixtureEM(K, covariance_type=ct, tol=0, max_iter=m, reg_covar=1e-6, **ini)
    sk = lambda m: GaussianMixture(K, covariance_type=ct, tol=0, max_iter=m, reg_covar=1e-6, **ini)
    reps = repeats(dict(sklearn=sk, emtheory=ours), X)
    t = {k: (float(np.median(v)), e) for k, (v, e) in reps.items()}
    (t_sk, e_sk), (t_us, e_us) = t["sklearn"], t["emtheory"]
    s_sk, s_us = e_sk.score(X), e_us.score(X)
    rel = abs(s_us - s_sk) / abs(s_sk)
    par = max(np.abs(getattr(e_us, a) - getattr(e_sk, a)).max() / np.abs(getattr(e_sk, a)).max()
              for a in ("weights_", "means_", "covariances_"))
    row = dict(N=N, D=D, K=K, cov=ct, sklearn_s=t_sk, emtheory_s=t_us, ratio=t_sk / t_us,
               ratio_range=ratio_range(reps, "sklearn", "emtheory"), score_rel=rel, param_rel=par,
               form=e_us._model.form_)
    if memory:
        row["sklearn_MiB"], row["emtheory_MiB"] = peak_mib(sk, X), peak_mib(ours, X)
    return row

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    cases = ([(5000, 4, 3, ct, False) for ct in ("full", "diag")] if a.quick else
             [(100_000, 16, 16, ct, False) for ct in ("full", "tied", "diag", "spherical")] + [(1_000_000, 8, 8, "full", True)])
    data_mib = None
    print(f"{'N':>9} {'D':>3} {'K':>3} {'cov':>9} {'sklearn s/it':>12} {'emtheory s/it':>13} {'ratio':>6} "
          f"{'score rel diff':>14} {'param rel diff':>14} {'peak MiB sk/us':>15}")
    ok = True
    for N, D, K, ct, mem in cases:
        r = run(N, D, K, ct, mem)
        ok &= r["score_rel"] <= 1e-9
        m = f"{r['sklearn_MiB']:.0f}/{r['emtheory_MiB']:.0f}" if mem else ""
        print(f"{N:>9} {D:>3} {K:>3} {ct:>9} {r['sklearn_s']:>12.4f} {r['emtheory_s']:>13.4f} {r['ratio']:>5.1f}x "
              f"{r['score_rel']:>14.1e} {r['param_rel']:>14.1e} {m:>15}", flush=True)
    if not ok: print("FAILED: a score differs from scikit-learn's by more than 1e-9 relative"); return 1
    return 0

if __name__ == "__main__": sys.exit(main())
