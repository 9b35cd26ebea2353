"""Run nbdev's own notebook processing (`nbdev_proc_nbs`) without its Quarto set-up.

`nbdev_proc_nbs` first calls `_ensure_quarto`, which downloads Quarto and then runs `pip install -e .[dev]`; it also
rewrites nbs/nbdev.yml from settings.ini (`refresh_quarto_yml`). Neither is needed to render offline, and neither may
happen during a build, so both are replaced by no-ops. Everything else is nbdev's: `_modidx` rebuilt, nbs/sidebar.yml
generated (custom_sidebar=False) and every notebook processed into _proc/ (`#| hide`/`#| export` cells dropped,
`show_doc` cells executed, front matter added, headings ending in ` -` removed).

nbdev re-executes every cell that contains an import (so that `show_doc` can see the names); the notebooks keep their
imports in cells of their own (nbdev's FAQ), and a cell that mixes them with other code fails this build.
"""
import sys, traceback, warnings
import nbdev.quarto as q

def main():
    q._ensure_quarto = lambda: None
    q.refresh_quarto_yml = lambda: None
    warnings.filterwarnings('error', message='Found cells containing imports and other code')
    q.nbdev_proc_nbs.__wrapped__(n_workers=0, force=True)

if __name__ == '__main__':
    try: main()
    except Exception as e:
        traceback.print_exc()
        print(f"\ndocs build: nbdev_proc_nbs failed: {e}", file=sys.stderr)
        sys.exit(1)
