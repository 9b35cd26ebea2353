"README.md is derived from nbs/index.ipynb (tools/make_readme.py); this test fails when the two drift."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_shows_the_two_commands_first():
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    first_code = text.split('```')[1]
    lines = [l.split('#')[0].strip() for l in first_code.splitlines()[1:] if l.strip()]
    assert lines[:2] == ['make demo', 'make test']
