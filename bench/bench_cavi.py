"""Per-iteration time of CAVI: emtheory.cavi.GaussianMixtureCAVI against scikit-learn's BayesianGaussianMixture.

Both start from the identical responsibilities (ours through resp_init, scikit-learn's by overriding its
_initialize_parameters hook to call its own _initialize with them), with the same hyperparameters
(scikit-learn's defaults, weight_concentration_prior_type="dirichlet_distribution", reg_covar=0), and tol=0 so that
max_iter=m performs exactly m iterations. Same process, interleaved (bench/timing.py). Per-iteration time is (time for 6 iterations
- time for 1 iteration), median of 5 repeats, divided by 5; the ratio is scikit-learn's time over ours. The fitted
factors of both after 6 iterations must agree (max relative difference printed).

    python bench/bench_cavi.py            # N=100,000, D=16, K=16 (about a minute on 2 cores)
    python bench/bench_cavi.py --quick    # a small size, a smoke test
"""
import argparse
import numpy as np
from sklearn.mixture import BayesianGaussianMixture
from emtheory.cavi import GaussianMixtureCAVI
from timing import repeats, ratio_range, peak_mib

def make_data(N, D, K, seed=0):
    "A K-component Gaussian mixture sample and soft starting responsibilities (a noisy version of the labels)."
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4, size=(K, D))
    A = rng.normal(size=(K, D, D)) / np.sqrt(D)
    L = np.linalg.cholesky(A @ A.transpose(0, 2, 1) + 0.5 * np.eye(D))
    y = rng.integers(K, size=N)
    X = means[y] + np.einsum('nab,nb->na', L[y], rng.normal(size=(N, D)))
    R = rng.dirichlet(np.ones(K), N) + 3 * np.eye(K)[rng.permutation(y)]   # informative but not the truth
    return X, R / R.sum(1, keepdims=True)

def sklearn_from(R, m):
    class FromResp(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None): self._initialize(X, R)
    return FromResp(n_components=R.shape[1], weight_concentration_prior_type="dirichlet_distribution", reg_covar=0.,
                    tol=0, max_iter=m, init_params="random")

ATTRS = ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_")

def run(N, D, K, memory=False):
    X, R = make_data(N, D, K)
    ours = lambda m: GaussianMixtureCAVI(K, resp_init=R, tol=0, max_iter=m)
    sk = lambda m: sklearn_from(R, m)
    reps = repeats(dict(sklearn=sk, emtheory=ours), X)
    t = {k: (float(np.median(v)), e) for k, (v, e) in reps.items()}
    (t_sk, e_sk), (t_us, e_us) = t["sklearn"], t["emtheory"]
    par = max(np.abs(getattr(e_us, a) - getattr(e_sk, a)).max() / np.abs(getattr(e_sk, a)).max() for a in ATTRS)
    row = dict(N=N, D=D, K=K, cov="full", sklearn_s=t_sk, emtheory_s=t_us, ratio=t_sk / t_us,
               ratio_range=ratio_range(reps, "sklearn", "emtheory"), param_rel=par,
               form=e_us._model.form_)
    if memory: row["sklearn_MiB"], row["emtheory_MiB"] = peak_mib(sk, X), peak_mib(ours, X)
    return row

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N=20,000, D=8, K=8 only")
    a = p.parse_args(argv)
    sizes = [(20_000, 8, 8)] if a.quick else [(100_000, 16, 16)]
    print(f"{'N':>8} {'D':>3} {'K':>3} | {'sklearn s/iter':>14} {'emtheory s/iter':>15} {'ratio':>6} | {'max rel diff':>12}")
    for N, D, K in sizes:
        r = run(N, D, K)
        print(f"{r['N']:>8} {r['D']:>3} {r['K']:>3} | {r['sklearn_s']:>14.4f} {r['emtheory_s']:>15.4f} "
              f"{r['ratio']:>5.1f}x | {r['param_rel']:>12.1e}")

if __name__ == "__main__":
    main()
