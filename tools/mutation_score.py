"""The mutation score per module from mutmut's results (`make mutation` prints it last).

Usage: python tools/mutation_score.py [path to the mutmut executable]. Reads `mutmut results --all true` (one line per
mutant, `name: status`) and prints, per module, killed / all mutants checked; a timeout counts as killed, a mutant no
test reaches ("no tests") as survived, and those not checked yet are left out.

Equivalent mutants (a change no test can detect because the program computes the same results, e.g. a block size or
an unused default) are listed with their reasons in tools/mutation_equivalent.txt. The score is printed twice: over
all mutants, and with the listed equivalent ones left out of the count (the usual definition of the score). A listed
name that mutmut no longer reports, or reports killed, is printed: the list is out of date."""
import collections, pathlib, subprocess, sys

EQUIVALENT = pathlib.Path(__file__).with_name("mutation_equivalent.txt")

def equivalent()->dict:
    "name -> reason, from tools/mutation_equivalent.txt (`name  # reason` per line; blank lines and # lines skipped)."
    out = {}
    for line in EQUIVALENT.read_text().splitlines() if EQUIVALENT.exists() else []:
        if not line.strip() or line.lstrip().startswith("#"): continue
        name, _, reason = line.partition("#")
        out[name.strip()] = reason.strip()
    return out

def eqnote(c)->str:
    return f"; {c['equivalent']} of the survivors listed equivalent" if c["equivalent"] else ""

def main(mutmut="mutmut"):
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    eq, status_of = equivalent(), {}
    counts = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name: continue
        status_of[name] = status
        module = name.split(".x")[0] if ".x" in name else name.rsplit(".", 1)[0]
        counts[module][status] += 1
        if name in eq and status in ("survived", "no tests"): counts[module]["equivalent"] += 1
    totals = collections.Counter()
    for module, c in sorted(counts.items()):
        checked = sum(v for k, v in c.items() if k not in ("not checked", "equivalent"))
        if not checked: continue
        killed = c["killed"] + c["timeout"]
        totals.update(killed=killed, checked=checked, equivalent=c["equivalent"])
        detail = ", ".join(f"{v} {k}" for k, v in sorted(c.items()) if k not in ("killed", "not checked", "equivalent"))
        print(f"{module}: {killed}/{checked} killed ({100 * killed / checked:.1f}%){'; ' + detail if detail else ''}"
              f"{eqnote(c)}")
    if not totals["checked"]:
        print("no mutant checked yet: run `mutmut run` first"); return
    k, n, e = totals["killed"], totals["checked"], totals["equivalent"]
    print(f"all: {k}/{n} killed ({100 * k / n:.1f}%)")
    print(f"without the {e} equivalent mutants listed in {EQUIVALENT.name}: {k}/{n - e} killed ({100 * k / (n - e):.1f}%)")
    stale = [m for m in eq if status_of.get(m) not in ("survived", "no tests", "not checked")]
    if stale: print(f"{len(stale)} listed equivalent mutants are not survivors now (out of date): {', '.join(stale[:10])}")

if __name__ == "__main__": main(*sys.argv[1:])
