"""Derive README.md from nbs/index.ipynb without Quarto.

`nbdev_readme` renders the landing notebook with Quarto, which these machines cannot install. This script does the
same job with nbformat and nbconvert: it drops the cells nbdev hides from the docs (`#| hide`, `#| include: false`),
strips nbdev's `#|` directive lines, removes inputs marked `#| echo: false` and outputs marked `#| output: false`,
and converts what is left to Markdown. Figures are written next to the README in `README_files/`.

    python tools/make_readme.py            # write README.md
    python tools/make_readme.py --check    # exit 1 if README.md differs from what index.ipynb gives
"""
import sys, re, copy
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent
_dir = re.compile(r'^\s*#\|\s*(.*)$')

def _directives(src):
    "nbdev's `#|` directives of a cell, as a set of normalised strings."
    return {re.sub(r'\s+', ' ', m.group(1).strip()) for l in src.splitlines() if (m := _dir.match(l))}

def _strip(src):
    "The cell's source without its directive lines."
    return '\n'.join(l for l in src.splitlines() if not _dir.match(l)).strip('\n')

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    "Markdown text and figure resources of the landing notebook."
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for c in nb.cells:
        d = _directives(c.source) if c.cell_type == 'code' else set()
        if d & {'hide', 'include: false', 'exporti', 'export', 'default_exp'} or any(x.startswith('default_exp') for x in d): continue
        c = copy.deepcopy(c)
        if c.cell_type == 'code':
            c.source = _strip(c.source)
            if 'echo: false' in d: c.metadata['tags'] = ['remove_input']
            if 'output: false' in d: c.outputs = []
            c.outputs = [o for o in c.outputs if o.get('output_type') != 'stream' or o.get('name') != 'stderr']
        cells.append(c)
    nb.cells = cells
    nb.metadata['language_info'] = {'name': 'python'}  # nbdev_clean strips it; code fences want it
    from traitlets.config import Config
    exp = MarkdownExporter(config=Config({'TagRemovePreprocessor': {'enabled': True, 'remove_input_tags': ['remove_input']}}))
    body, res = exp.from_notebook_node(nb, resources={'output_files_dir': 'README_files'})
    body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    hdr = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py (make readme): edit the notebook, not this file. -->\n\n'
    return hdr + body, res.get('outputs', {})

def main(argv=sys.argv[1:]):
    text, figs = render()
    readme = ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md is out of date with nbs/index.ipynb: run `make readme` and commit it.')
            return 1
        missing = [f for f in figs if not (ROOT/f).exists()]
        if missing:
            print(f'README figures missing: {missing}: run `make readme`.')
            return 1
        return 0
    readme.write_text(text, encoding='utf-8')
    for old in (ROOT/'README_files').glob('*'): old.unlink()   # no stale figures
    for name, data in figs.items():
        (ROOT/name).parent.mkdir(parents=True, exist_ok=True)
        (ROOT/name).write_bytes(data)
    return 0

if __name__ == '__main__': sys.exit(main())
