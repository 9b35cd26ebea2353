"""Rules on the notebooks' sources, run by make docs-check before the site is built.

    python tools/docs/rules.py [NOTEBOOK ...]      (default: every notebook in nbs/)

In the markdown cells (code spans, code blocks and math left out):
  - chapter-number: a hand-typed "chapter N"; prose refers to a chapter by a link to its page ([the KL
    decomposition](kl_decomposition.html)), whose number the site derives from the reading order;
  - workshop-word: words from the workshop rather than the subject: "issue", "the bar" (not a bar chart), and "seed"
    where its sentence says nothing random about it (random, fixed, integer, root, reproducible, explicit, sample,
    start, worker, rng, k-means++, Monte Carlo; or "seed 0", "seed=");
in the code cells:
  - export-length: an `#| export` cell longer than 80 lines;
  - mixed-imports: a cell (not exported) with imports and other code, which nbdev's docs processor refuses.
Known offenders are listed in tools/docs/allow.txt (`notebook | rule | what`): they are reported but do not fail; a new
one fails (exit 1). The allowlist's size is printed, and its entries that no longer occur.
"""
import ast, re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[2]
ALLOW = Path(__file__).with_name('allow.txt')
MAX_EXPORT = 80
_code = re.compile(r'^(`{3,}|~{3,}).*?^\1[ \t]*$|`+[^`]*?`+|\$\$.*?\$\$|(?<![\\$])\$(?:[^$\\]|\\.)+?\$', re.S | re.M)
CHAPTER = re.compile(r'\bchapters?\s+\d+\w*', re.I)
WORKSHOP = re.compile(r'\bissues?\b|\bthe bar\b(?!\s+(?:chart|plot|graph))', re.I)   # a bar chart is fine
SEED = re.compile(r'\bseeds?\b', re.I)
RANDOM = re.compile(r'random|fixed|integer|root|reproduc|explicit|sampl|start|worker|\brng\b|means\+\+|monte carlo'
                    r'|seeds?\s*(?:=|\d)', re.I)
EXPORT = re.compile(r'^\s*#\|\s*export\s*$', re.M)

def prose(md:str)->str:
    "Markdown without code and math (each replaced by a space-padded placeholder, so sentences stay whole)."
    return _code.sub(lambda m: ' `code` ' if m.group(0).startswith(('`', '~')) else ' $math$ ', md)

def sentences(text:str)->list:
    return [' '.join(s.split()) for s in re.split(r'(?<=[.:;!?])\s+|\n\s*\n|^#+ ', text, flags=re.M) if s.strip()]

def cell_problems(cell)->list:
    "[(rule, what)] of one cell."
    out = []
    if cell.cell_type == 'markdown':
        for s in sentences(prose(cell.source)):
            out += [('chapter-number', m.group(0)) for m in CHAPTER.finditer(s)]
            out += [('workshop-word', m.group(0)) for m in WORKSHOP.finditer(s)]
            if SEED.search(s) and not RANDOM.search(s): out.append(('workshop-word', s[:60].rstrip()))
    elif cell.cell_type == 'code' and EXPORT.search(cell.source):
        n = len(cell.source.rstrip('\n').split('\n'))
        if n > MAX_EXPORT:
            name = re.search(r'^(?:def|class)\s+(\w+)', cell.source, re.M)
            out.append(('export-length', f"the cell defining {name.group(1) if name else '?'}"))
    elif cell.cell_type == 'code' and _mixes_imports(cell.source):
        out.append(('mixed-imports', cell.source.strip().split('\n')[0][:60]))
    return out

def _mixes_imports(src:str)->bool:
    "nbdev's test (processors._do_eval): an import and an expression or assignment anywhere in one unexported cell."
    if 'nbdev_export()' in src or re.search(r'^\s*#\|\s*(export|exporti|exports|exec_doc|eval:\s*false)', src, re.M): return False
    try: tree = ast.parse('\n'.join(l for l in src.split('\n') if not l.lstrip().startswith(('%', '!'))))
    except SyntaxError: return False
    nodes = list(ast.walk(tree))
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes)

def problems(nb_path:Path)->list:
    "[(notebook, rule, what)] of one notebook (notebook relative to the repository)."
    rel = str(Path(nb_path).resolve().relative_to(ROOT)) if Path(nb_path).resolve().is_relative_to(ROOT) else str(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    return list(dict.fromkeys((rel, r, w) for c in nb.cells for r, w in cell_problems(c)))

def read_allow(path:Path=ALLOW)->set:
    if not path.is_file(): return set()
    rows = [l for l in path.read_text().splitlines() if l.strip() and not l.startswith('#')]
    return {tuple(x.strip() for x in l.split(' | ', 2)) for l in rows}

def main(paths:list, allow_path:Path=ALLOW)->int:
    allow = read_allow(allow_path)
    found = [p for f in paths for p in problems(f)]
    new = [p for p in found if p not in allow]
    for p in found: print(f"{'allowed' if p in allow else 'FAIL   '} {' | '.join(p)}")
    stale = sorted(allow - set(found))
    for p in stale: print(f"gone    {' | '.join(p)} (remove it from {allow_path.name})")
    print(f'docs rules: {len(paths)} notebooks, {len(new)} new problems; allowlist {allow_path.name}: {len(allow)} '
          f'entries ({len(stale)} no longer occur)')
    return 1 if new else 0

if __name__ == '__main__':
    args = sys.argv[1:] or sorted(str(p) for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    sys.exit(main([Path(a) for a in args]))
