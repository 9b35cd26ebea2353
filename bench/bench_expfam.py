"""Per-iteration time of a Bernoulli mixture: emtheory.expfam.ExpFamilyMixtureEM against a straightforward numpy EM.

1e5 x 784 binary rows (MNIST-sized), K = 10, drawn from ten random templates. Both start from the identical
weights_init and means_init and run with tol=0, so that max_iter=m performs exactly m M-steps; they are timed in the
same process, interleaved (bench/timing.py): per-iteration time is (time for 6 iterations - time for 1) / 5, median of
3 repeats, and the ratio is the numpy EM's time over ours. The numpy EM runs twice: with BLAS's default threads, and
held to one BLAS thread (emtheory's E-step runs one Python thread per core, each with one BLAS thread; on a loaded
machine OpenBLAS's own threads can be much slower than one). After 6 iterations both must hold the same parameters (to
1e-9 relative). pomegranate 1.x is not compared: from PyPI it needs torch, whose Linux wheel pulls the CUDA 13
libraries (several GB), and these machines reach no CPU-only torch index.

    python bench/bench_expfam.py            # 1e5 x 784, K = 10 (about a minute on 2 cores)
    python bench/bench_expfam.py --quick    # 1e4 x 784, a smoke test
"""
import sys, argparse
import numpy as np
from scipy.special import logsumexp
import os
from threadpoolctl import threadpool_limits
from emtheory.expfam import ExpFamilyMixtureEM, TINY
from timing import per_iteration

class NumpyBernoulliEM:
    "EM for a Bernoulli mixture as a textbook writes it (Bishop PRML 9.3.3): two matrix products and a log-sum-exp."
    def __init__(self, n_components, max_iter, weights_init, means_init, blas_threads=None):
        self.K, self.max_iter, self.w0, self.mu0, self.nt = n_components, max_iter, weights_init, means_init, blas_threads

    def _log_joint(self, X):
        lp, lq = np.log(np.maximum(self.means_, TINY)), np.log(np.maximum(1 - self.means_, TINY))
        return X @ (lp - lq).T + lq.sum(1) + np.log(self.weights_)

    def fit(self, X):
        self.weights_, self.means_ = self.w0.copy(), self.mu0.copy()
        with threadpool_limits(self.nt, user_api="blas"):
            for _ in range(self.max_iter):
                L = self._log_joint(X)
                R = np.exp(L - logsumexp(L, axis=1, keepdims=True))
                Nk = R.sum(0)
                self.weights_, self.means_ = Nk / len(X), (R.T @ X) / Nk[:, None]
        return self

    def score(self, X): return float(logsumexp(self._log_joint(X), axis=1).mean())

def make_data(N, D=784, K=10, seed=0):
    "Binary rows from K random templates of pixel probabilities, and a start from perturbed templates."
    rng = np.random.default_rng(seed)
    templates = rng.beta(.3, .3, size=(K, D))
    y = rng.integers(K, size=N)
    X = np.empty((N, D))
    for s in range(0, N, 10_000):
        X[s:s + 10_000] = rng.uniform(size=(len(y[s:s + 10_000]), D)) < templates[y[s:s + 10_000]]
    start = np.clip(templates + rng.normal(scale=.1, size=(K, D)), .05, .95)
    return X, np.full(K, 1 / K), start

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    N, D, K = (10_000 if a.quick else 100_000), 784, 10
    X, w0, m0 = make_data(N, D, K)
    ours = lambda m: ExpFamilyMixtureEM(K, family="bernoulli", tol=0, max_iter=m, weights_init=w0, means_init=m0)
    plain = lambda m: NumpyBernoulliEM(K, m, w0, m0)
    one = lambda m: NumpyBernoulliEM(K, m, w0, m0, blas_threads=1)
    t = per_iteration({"numpy": plain, "numpy, 1 thread": one, "emtheory": ours}, X)
    t_us, e_us = t["emtheory"]
    print(f"N = {N}, D = {D}, K = {K}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          "seconds per EM iteration, median of 3 (ratio: their time / emtheory's)")
    print(f"{'':>16} {'s/it':>8} {'ratio':>7} {'param max diff':>15} {'score rel diff':>15}")
    ok = True
    for name, (ti, e) in t.items():
        par = max(np.abs(e_us.means_ - e.means_).max(), np.abs(e_us.weights_ - e.weights_).max())
        s, s_us = e.score(X), e_us.score(X)
        ok &= par <= 1e-9
        print(f"{name:>16} {ti:>8.4f} {t[name][0] / t_us:>6.2f}x {par:>15.1e} {abs(s - s_us) / abs(s_us):>15.1e}")
    if not ok: print("FAILED: the EMs hold different parameters after 6 iterations"); return 1
    return 0

if __name__ == "__main__": sys.exit(main())
