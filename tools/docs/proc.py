"""nbdev's own notebook processing (`nbdev_proc_nbs`) into _proc/, without its Quarto set-up: `_ensure_quarto` downloads
Quarto and runs `pip install -e .[dev]`, `refresh_quarto_yml` rewrites nbs/nbdev.yml; neither may happen in an offline
build. The rest is nbdev's: `_modidx`, nbs/sidebar.yml (the notebooks' file order), `#| hide`/`#| export` cells dropped,
`show_doc` cells added and run. nbdev re-executes every cell with an import, so a cell mixing imports with other code
fails the build (rules.py finds it first)."""
import sys, traceback, warnings
import nbdev.quarto as q

if __name__ == '__main__':
    q._ensure_quarto = q.refresh_quarto_yml = lambda: None
    warnings.filterwarnings('error', message='Found cells containing imports and other code')
    try: q.nbdev_proc_nbs.__wrapped__(n_workers=0, force=True)
    except Exception as e:
        traceback.print_exc(); sys.exit(f'\ndocs build: nbdev_proc_nbs failed: {e}')
