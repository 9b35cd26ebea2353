"""Random-intercept GLMM on cbpp (binomial, 56 rows, 15 herds): MCEM, SAEM and adaptive quadrature, time to the
same log-likelihood, with R lme4's glmer(nAGQ = 25) timed in the same run when Rscript and lme4 are installed.

Target: the quadrature maximum of the full marginal log-likelihood minus 0.01 nats. Every method records, after each
iteration, the wall time since the start of `fit` (the log-likelihood of each iterate is computed after the fit, by
25-node quadrature, so it costs the method nothing). Reported per method, over seeds 0-4 (quadrature: 5 repeats):
- to target: the time of the iterate from which on every iterate is within 0.01 nats of the maximum (median, and the
  range): a noisy iterate that touches the target once does not count;
- to stop: the whole fit (MCEM: until its ascent-based rule stops; SAEM: its fixed 50 + 150 iterations);
- final gap: the maximum minus the final estimate's log-likelihood (median), and the iterations run.
lme4: R's system.time of the glmer call (median of 5, R's start-up excluded).

    python bench/bench_glmm.py     # writes bench/RESULTS_glmm.md
"""
import shutil, subprocess, time, warnings
from pathlib import Path
import numpy as np
from emtheory.glmm import RandomInterceptGLMM, load_cbpp

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.01
R_TIMING = """suppressMessages(library(lme4)); cb <- read.csv("emtheory/data/cbpp.csv")
cb$period <- factor(cb$period); cb$herd <- factor(cb$herd)
t <- replicate(5, system.time(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial,
                                    data = cb, nAGQ = 25))[["elapsed"]])
cat(sprintf("%.6f\\n", median(t)))"""

def lme4_seconds():
    "Median seconds of lme4's glmer(nAGQ = 25) on cbpp, or None without R and lme4."
    if shutil.which("Rscript") is None: return None
    r = subprocess.run(["Rscript", "-e", R_TIMING], cwd=ROOT, capture_output=True, text=True)
    return float(r.stdout.split()[-1]) if r.returncode == 0 else None

def run(make, X, y, herd, size, ll_max):
    "(seconds to target, seconds to stop, final gap, iterations) of one fit."
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X, y, herd, size)
    total = time.perf_counter() - t
    h = est.history_
    out = np.flatnonzero(h["log_likelihood"] < ll_max - TARGET)       # iterates outside the target
    k = 0 if not len(out) else out[-1] + 1
    return (h["time"][k] if k < len(h["time"]) else np.nan), total, ll_max - est.log_likelihood_, est.n_iter_

def main():
    X, y, herd, size = load_cbpp()
    exact = RandomInterceptGLMM("binomial").fit(X, y, herd, size)
    ll_max = exact.log_likelihood_
    methods = {
        "quadrature (AGHQ 25 nodes, BFGS)": lambda s: RandomInterceptGLMM("binomial", "quadrature"),
        "MCEM, Metropolis E-step": lambda s: RandomInterceptGLMM("binomial", "mcem", random_state=s),
        "MCEM, importance E-step": lambda s: RandomInterceptGLMM("binomial", "mcem", sampler="importance", random_state=s),
        "SAEM (S = 10 chains, averaged)": lambda s: RandomInterceptGLMM("binomial", "saem", random_state=s),
    }
    rows = {name: np.array([run(lambda: make(s), X, y, herd, size, ll_max) for s in range(5)])
            for name, make in methods.items()}
    t_r = lme4_seconds()
    t_q = float(np.median(rows["quadrature (AGHQ 25 nodes, BFGS)"][:, 1]))
    lines = ["# Random-intercept GLMM on cbpp: time to the same log-likelihood", "",
             f"Made by `python bench/bench_glmm.py`. Target: the quadrature maximum of the full log-likelihood "
             f"({ll_max:.6f} nats) minus {TARGET} nats. Medians over seeds 0-4 (range in brackets); wall-clock seconds "
             "on this machine (2 shared cores).", "",
             "| method | to target (s) | to stop (s) | final gap (nats) | iterations | stop / quadrature | stop / lme4 |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {np.nanmedian(r[:, 0]):.3g} [{np.nanmin(r[:, 0]):.3g}, {np.nanmax(r[:, 0]):.3g}] | "
                     f"{np.median(r[:, 1]):.3g} [{r[:, 1].min():.3g}, {r[:, 1].max():.3g}] | {np.median(r[:, 2]):.1e} | "
                     f"{np.median(r[:, 3]):.0f} | {np.median(r[:, 1]) / t_q:.2g} | "
                     + (f"{np.median(r[:, 1]) / t_r:.2g} |" if t_r else "n/a |"))
    if t_r is not None:
        lines.append(f"| R lme4 glmer(nAGQ = 25) | | {t_r:.3g} | (the same optimum to 1e-9 relative) | | "
                     f"{t_r / t_q:.2g} | 1 |")
    else:
        lines.append("| R lme4 glmer(nAGQ = 25) | not timed: Rscript with lme4 is not installed | | | | | |")
    lines += ["", "'To stop' includes what every fit computes at its end (the quadrature log-likelihood and the "
              "observed information for the standard errors). SAEM's iterates after its 50 burn-in iterations are "
              "running averages. Quadrature is the method of choice "
              "whenever the random effect is a scalar; the Monte Carlo methods are what remains when it is not."]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "RESULTS_glmm.md").write_text(text)
    print(text)

if __name__ == "__main__": main()
