"""Rules on the notebooks' sources, run by make docs-check before the site is built (exit 1 on any offence).

    python tools/docs/rules.py [NOTEBOOK ...]      (default: every notebook in nbs/)

In markdown cells (code and math left out): chapter-number, a hand-typed "chapter N" (prose links to the chapter's
page; the site numbers chapters from the reading order); workshop-word, "issue", "the bar" (not a bar chart), and
"seed" in a sentence that says nothing random about it. In code cells: export-length, an `#| export` cell over 80
lines; mixed-imports, an unexported cell with imports and other code (nbdev's docs processor refuses it).
"""
import ast, re, sys
from pathlib import Path
import nbformat

ROOT, MAX_EXPORT = Path(__file__).resolve().parents[2], 80
_code = re.compile(r'^(`{3,}|~{3,}).*?^\1[ \t]*$|`+[^`]*?`+|\$\$.*?\$\$|(?<![\\$])\$(?:[^$\\]|\\.)+?\$', re.S | re.M)
CHAPTER = re.compile(r'\bchapters?\s+\d+\w*', re.I)
WORKSHOP = re.compile(r'\bissues?\b|\bthe bar\b(?!\s+(?:chart|plot|graph))', re.I)
SEED, RANDOM = re.compile(r'\bseeds?\b', re.I), re.compile(r'random|fixed|integer|root|reproduc|explicit|sampl|start|'
                                                          r'worker|\brng\b|means\+\+|monte carlo|seeds?\s*(?:=|\d)', re.I)

def sentences(md:str)->list:
    "The sentences of markdown prose, code and math replaced by placeholders."
    text = _code.sub(lambda m: ' `code` ' if m.group(0).startswith(('`', '~')) else ' $math$ ', md)
    return [' '.join(s.split()) for s in re.split(r'(?<=[.:;!?])\s+|\n\s*\n|^#+ ', text, flags=re.M) if s.strip()]

def mixes_imports(src:str)->bool:
    "nbdev's test (processors._do_eval): an import and an expression or assignment in one unexported cell."
    if 'nbdev_export()' in src or re.search(r'^\s*#\|\s*(export|exporti|exports|exec_doc|eval:\s*false)', src, re.M): return False
    try: nodes = list(ast.walk(ast.parse('\n'.join(l for l in src.split('\n') if not l.lstrip().startswith(('%', '!'))))))
    except SyntaxError: return False
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes)

def cell_problems(cell)->list:
    "[(rule, what)] of one cell."
    if cell.cell_type == 'markdown':
        return [(r, m.group(0)) for s in sentences(cell.source) for r, rx in (('chapter-number', CHAPTER), ('workshop-word', WORKSHOP))
                for m in rx.finditer(s)] + [('workshop-word', s[:60].rstrip()) for s in sentences(cell.source)
                                            if SEED.search(s) and not RANDOM.search(s)]
    if re.search(r'^\s*#\|\s*export\s*$', cell.source, re.M) and len(cell.source.rstrip('\n').split('\n')) > MAX_EXPORT:
        return [('export-length', 'the cell defining ' + (re.findall(r'^(?:def|class)\s+(\w+)', cell.source, re.M) or ['?'])[0])]
    return [('mixed-imports', cell.source.strip().split('\n')[0][:60])] if mixes_imports(cell.source) else []

def problems(nb_path:Path)->list:
    "[(notebook, rule, what)] of one notebook."
    nb = nbformat.read(nb_path, as_version=4)
    return list(dict.fromkeys((str(nb_path), r, w) for c in nb.cells for r, w in cell_problems(c)))

def main(paths:list)->int:
    found = [p for f in paths for p in problems(f)]
    for p in found: print('FAIL ' + ' | '.join(p))
    print(f'docs rules: {len(paths)} notebooks, {len(found)} problems')
    return 1 if found else 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:] or sorted(str(p) for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))))
