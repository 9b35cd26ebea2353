"""Run nbdev's own notebook processing (`nbdev_proc_nbs`) without its Quarto set-up.

`nbdev_proc_nbs` first calls `_ensure_quarto`, which downloads Quarto and then runs `pip install -e .[dev]`; it also
rewrites nbs/nbdev.yml from settings.ini (`refresh_quarto_yml`). Neither is needed to render offline, and neither may
happen during a build, so both are replaced by no-ops. Everything else is nbdev's: `_modidx` rebuilt, nbs/sidebar.yml
generated (custom_sidebar=False) and every notebook processed into _proc/ (`#| hide`/`#| export` cells dropped,
`show_doc` cells executed, front matter added, headings ending in ` -` removed).

One deviation, printed when it applies: nbdev re-executes every cell that contains an import (so that `show_doc` can
see the names), including cells that mix imports with other code (nbdev warns "Found cells containing imports and
other code. See FAQ."). Such a cell fails when it uses a variable of a cell nbdev did not run, and can be slow. Here
only its import statements run; its committed outputs are kept. `DOCS_NBDEV_STRICT=1` restores nbdev's behaviour.
"""
import ast, copy, os, sys, traceback, warnings
import nbdev.quarto as q
import nbdev.processors as P

MIXED = []

def _imports_only(cell)->str|None:
    "The import statements of a cell that mixes top-level imports with other code (None for any other cell)."
    if cell.cell_type != 'code' or not cell.source: return None
    if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return None
    try: tree = ast.parse(cell.source)
    except SyntaxError: return None
    imps = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    trees = cell.parsed_()
    # exactly the cells nbdev warns about; show_doc cells run whole as nbdev runs them
    if not imps or not P._ast_contains(trees, (ast.Expr, ast.Assign)) or P._show_docs(trees): return None
    return '\n'.join(ast.get_source_segment(cell.source, n) for n in imps)

_orig_call = P.exec_show_docs.__call__
def _call(self, cell):
    src = _imports_only(cell) if self.nb.has_docs_ and hasattr(self, 'k') else None
    if src is None: return _orig_call(self, cell)
    MIXED.append(f"{getattr(self.nb, 'frontmatter_', {}).get('title', '?')}: cell {cell.idx_} ({cell.source.splitlines()[0][:60]})")
    tmp = copy.copy(cell); tmp.source = src
    self.k.cell(tmp)  # outputs go to the copy: the committed outputs stay
    if self.k.exc: raise Exception(f"Error in cell {cell.idx_}:\n{src}") from self.k.exc

def main():
    q._ensure_quarto = lambda: None
    q.refresh_quarto_yml = lambda: None
    strict = os.environ.get('DOCS_NBDEV_STRICT') == '1'
    if not strict:
        P.exec_show_docs.__call__ = _call
        warnings.filterwarnings('ignore', message='Found cells containing imports and other code')
    # n_workers=0: in this process (nbdev would spawn workers that do not see the patch above)
    q.nbdev_proc_nbs.__wrapped__(n_workers=2 if strict else 0, force=True)
    if MIXED:
        print(f"docs build: {len(MIXED)} cells mix imports with other code (nbdev FAQ: keep imports in their own cell); "
              "ran their imports only:\n  " + '\n  '.join(MIXED))

if __name__ == '__main__':
    try: main()
    except Exception as e:
        traceback.print_exc()
        print(f"\ndocs build: nbdev_proc_nbs failed: {e}", file=sys.stderr)
        sys.exit(1)
