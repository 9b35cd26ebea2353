"""The mutation score per module from mutmut's results (`make mutation` prints it last).

Usage: python tools/mutation_score.py [path to the mutmut executable]. Reads `mutmut results --all true` (one line per
mutant, `name: status`) and prints, per module, killed / all mutants checked; a timeout counts as killed, a mutant no
test reaches ("no tests") as survived, and those not checked yet are left out."""
import collections, subprocess, sys

def main(mutmut="mutmut"):
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    counts = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name: continue
        module = name.split(".x")[0] if ".x" in name else name.rsplit(".", 1)[0]
        counts[module][status] += 1
    total_killed = total = 0
    for module, c in sorted(counts.items()):
        checked = sum(v for k, v in c.items() if k != "not checked")
        if not checked: continue
        killed = c["killed"] + c["timeout"]
        total_killed, total = total_killed + killed, total + checked
        detail = ", ".join(f"{v} {k}" for k, v in sorted(c.items()) if k not in ("killed", "not checked"))
        print(f"{module}: {killed}/{checked} killed ({100 * killed / checked:.1f}%){'; ' + detail if detail else ''}")
    if total: print(f"all: {total_killed}/{total} killed ({100 * total_killed / total:.1f}%)")
    else: print("no mutant checked yet: run `mutmut run` first")

if __name__ == "__main__": main(*sys.argv[1:])
