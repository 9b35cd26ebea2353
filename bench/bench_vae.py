"""The VAE's seconds per epoch on the binarised digits (emtheory.vae.VAE), against the same epoch with autograd's gradients.

One epoch is a pass of Adam steps over shuffled mini-batches of the 1,797 binarised 8x8 digits (pixel > 7), one draw
of z per image. Both columns run the same model, the same batches and the same draws: emtheory's hand-derived
backpropagation (`elbo_grad`), and the same objective differentiated by autograd (the peer). Each entry is the median
over 3 interleaved repeats of (time of 6 epochs - time of 1) / 5, which removes the set-up. The held-out scoring
(IWAE, k importance samples per image) is timed too, per 1,000 images. The load average is printed with the results:
the machine is shared, so only the ratios in one run are comparable.

    python bench/bench_vae.py            # writes bench/RESULTS_vae.md
    python bench/bench_vae.py --quick    # fewer configurations, prints only
"""
import argparse, os, sys, time
from pathlib import Path
import numpy as np
import autograd.numpy as anp
from autograd import grad
from sklearn.datasets import load_digits
from emtheory.vae import VAE, iwae
from emtheory.latent import Adam

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_vae import ag_objective   # the independent autograd.numpy objective the tests check the gradients with

def digits():
    return (load_digits().data > 7).astype(float)

def emtheory_epochs(X, q, H, n):
    "Seconds for n epochs of VAE.partial_fit after the first (which also initialises)."
    est = VAE(q, hidden_layer_sizes=H, batch_size=32, random_state=0)
    est.partial_fit(X)
    t = time.perf_counter()
    for _ in range(n): est.partial_fit(X)
    return time.perf_counter() - t

def autograd_epochs(X, q, H, n):
    "Seconds for n epochs of the same Adam loop with autograd's gradient of the same objective."
    est = VAE(q, hidden_layer_sizes=H, batch_size=32, max_epochs=1, random_state=0).fit(X)   # the same starting networks
    p, opt, rng, g = est.params_, Adam(1e-3), np.random.default_rng(0), grad(ag_objective)
    t = time.perf_counter()
    for _ in range(n):
        order = rng.permutation(len(X))
        for s in range(0, len(X), 32):
            Xb = X[order[s:s + 32]]
            p = opt.step(p, g(p, Xb, rng.standard_normal((1, len(Xb), q)), "tanh", 1.), 1e-3)
    return time.perf_counter() - t

def per_epoch(f, X, q, H, repeats=3):
    "Median over interleaved repeats of (6 epochs - 1 epoch) / 5."
    return float(np.median([(f(X, q, H, 6) - f(X, q, H, 1)) / 5 for _ in range(repeats)]))

def scoring(X, q, H, k):
    "Seconds per 1,000 images of score_samples with k importance samples (timed on 300 images)."
    est = VAE(q, hidden_layer_sizes=H, max_epochs=1, n_importance=k, random_state=0).fit(X)
    t = time.perf_counter(); est.score_samples(X[:300]); return (time.perf_counter() - t) / 300 * 1000

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    X = digits()
    configs = [(8, (128,))] if a.quick else [(2, (128,)), (8, (128,)), (8, (256,)), (8, (128, 128))]
    load0 = os.getloadavg()[0]
    rows = []
    for q, H in configs:
        e = per_epoch(emtheory_epochs, X, q, H)
        g = per_epoch(autograd_epochs, X, q, H)
        rows.append((q, H, e, g))
        print(f"q = {q}, hidden {H}: emtheory {e:.3f} s/epoch, autograd {g:.3f} s/epoch, ratio {g / e:.1f}x", flush=True)
    sc = [(k, scoring(X, 8, (128,), k)) for k in (100, 1000, 5000)]
    for k, s in sc: print(f"score_samples, k = {k}: {s:.2f} s per 1,000 images", flush=True)
    load1 = os.getloadavg()[0]
    if a.quick: return
    lines = ["# VAE: seconds per epoch on the binarised digits", "",
             f"Written by `python bench/bench_vae.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{os.cpu_count()} cores, 1-minute load average {load0:.1f} at the start and {load1:.1f} at the end "
             "(the machine is shared: absolute times vary with the load, the ratios measured in the same run less).", "",
             "One epoch: Adam over the 1,797 images in batches of 32, one draw of z per image, tanh units. "
             "Median of 3 interleaved repeats of (6 epochs - 1 epoch) / 5.", "",
             "| latent q | hidden layers | emtheory (s/epoch) | autograd peer (s/epoch) | autograd / emtheory |",
             "|---|---|---|---|---|"]
    lines += [f"| {q} | {H} | {e:.3f} | {g:.3f} | {g / e:.1f}x |" for q, H, e, g in rows]
    lines += ["", "Scoring held-out images (`score_samples`, q = 8, 128 hidden units): seconds per 1,000 images.", "",
              "| importance samples k | s per 1,000 images |", "|---|---|"]
    lines += [f"| {k} | {s:.2f} |" for k, s in sc]
    e8 = [e for q, H, e, g in rows if (q, H) == (8, (128,))][0]
    lines += ["", f"At q = 8 with 128 hidden units, the chapter's 800 training epochs take about {800 * e8:.0f} s at this "
              "load (the two-minute budget is 120 s)."]
    (ROOT / "bench" / "RESULTS_vae.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
