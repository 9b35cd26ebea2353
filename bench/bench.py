"""The benchmark table: exact EM and CAVI against scikit-learn, per iteration, from the same start, in the same run.

Each row is bench_em.run or bench_cavi.run (same start, tol=0, (t6 - t1) / 5 per iteration, median of 5 interleaved
repeats; see bench/timing.py); the ratio is scikit-learn's time over ours (the ratio of the medians; "ratio per repeat"
is the lowest and highest ratio of the two fits timed next to each other, a measure of the machine's noise); peak memory is tracemalloc's peak during a
fit of 6 iterations (MiB, over the data). The E-step form chosen by the cost model is reported per case. The table is
printed and written to bench/RESULTS.md, from which the speed table of the docs is taken.

    python bench/bench.py            # every case (several minutes on 2 cores)
    python bench/bench.py --quick    # small sizes, a smoke test
"""
import argparse, os, subprocess, sys, time
import bench_em, bench_cavi

EM_CASES = [(100_000, 16, 16, ct, False) for ct in ("full", "tied", "diag", "spherical")] + \
           [(1_000_000, 8, 8, "full", True), (10_000, 64, 8, "full", True), (5_000, 128, 8, "full", True),
            (2_000, 300, 8, "full", True)]
CAVI_CASES = [(100_000, 16, 16, False), (10_000, 64, 8, True), (5_000, 128, 8, True), (2_000, 300, 8, True)]
QUICK_EM, QUICK_CAVI = [(5000, 4, 3, "full", True), (2000, 40, 3, "full", True)], [(5000, 4, 3, True)]

HEAD = ("| method | N | D | K | covariance | scikit-learn s/iter | emtheory s/iter | ratio | ratio per repeat | E-step form "
        "| peak MiB scikit-learn / emtheory | max rel. diff. |\n|---|---|---|---|---|---|---|---|---|---|---|---|")

def line(method, r):
    mem = f"{r['sklearn_MiB']:.0f} / {r['emtheory_MiB']:.0f}" if "sklearn_MiB" in r else ""
    diff = max(r.get("score_rel", 0.), r["param_rel"])
    return (f"| {method} | {r['N']} | {r['D']} | {r['K']} | {r['cov']} | {r['sklearn_s']:.4f} | {r['emtheory_s']:.4f} "
            f"| {r['ratio']:.1f}x | {r['ratio_range'][0]:.1f}–{r['ratio_range'][1]:.1f} | {r['form']} | {mem} | {diff:.1e} |")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    em, cavi = (QUICK_EM, QUICK_CAVI) if a.quick else (EM_CASES, CAVI_CASES)
    load0 = os.getloadavg()
    print(HEAD, flush=True)
    lines = []
    for N, D, K, ct, mem in em:
        lines.append(line("EM", bench_em.run(N, D, K, ct, mem))); print(lines[-1], flush=True)
    for N, D, K, mem in cavi:
        lines.append(line("CAVI", bench_cavi.run(N, D, K, mem))); print(lines[-1], flush=True)
    load1 = os.getloadavg()
    note = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores; load average "
            f"(1 min) {load0[0]:.1f} at the start, {load1[0]:.1f} at the end.")
    print(note)
    if not a.quick:
        with open(os.path.join(os.path.dirname(__file__), "RESULTS.md"), "w") as f:
            f.write("# Benchmark: emtheory against scikit-learn (written by `make bench`)\n\n" + HEAD + "\n"
                    + "\n".join(lines) + "\n\n" + note + "\n" + _mclust_section())
    return 0

def _mclust_section()->str:
    "The model-selection table against R's mclust, as bench/bench_mclust.py last wrote it (it needs R, so it runs on its own)."
    p = os.path.join(os.path.dirname(__file__), "RESULTS_mclust.md")
    if not os.path.exists(p): return ""
    return "\n## Against R's mclust: the fourteen-model table\n\n" + open(p).read().split("\n", 2)[2]

if __name__ == "__main__": sys.exit(main())
