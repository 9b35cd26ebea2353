"""The documentation site (issue 8): the converter's pieces, and the browser check failing when the site is broken.

The site is built once into a temporary folder (tools/docs/build.sh with DOCS_OUT/DOCS_WORK). tools/docs/check.py must
pass on it, and must fail, with the right message, on a copy with the local MathJax deleted, an image deleted, a hidden
cell's source showing, a dead internal link and a public name missing from the API reference.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'/'docs'))
import convert

def _chromium():
    for c in ('/usr/bin/chromium', shutil.which('chromium')):
        if c and os.access(c, os.X_OK): return c
needs_chromium = pytest.mark.skipif(_chromium() is None, reason='chromium is not installed on this machine, so the '
                                    'browser check cannot run (make docs-check installs it: apt-get install chromium)')

# ---- converter pieces (no browser) ---------------------------------------------------------------------------------
def test_page_names_are_nbdevs():
    assert str(convert.nbdev_page(Path('11_core.ipynb'))) == 'core'
    assert str(convert.nbdev_page(Path('03a_MAP_em.ipynb'))) == 'map_em'
    assert str(convert.nbdev_page(Path('index.ipynb'))) == 'index'
    assert str(convert.nbdev_page(Path('sub/20_comparison.ipynb'))) == 'sub/comparison'

def test_sidebar_sections_in_reading_order():
    assert convert.caption_for(None, 'index.ipynb') is None
    assert [convert.caption_for(None, f) for f in ('00_jensen.ipynb', '13_em.ipynb', '20_comparison.ipynb',
            '30_cli.ipynb')] == ['Theory', 'Methods', 'Comparison', 'Command line']

def test_quarto_options_become_myst_nb_tags():
    c = lambda src, **kw: nbformat.v4.new_code_cell(src, **kw)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_raw_cell('---\ntitle: Core\ndescription: The loop\n---'),
        c('#| echo: false\nx = 1', outputs=[nbformat.v4.new_output('stream', text='1\n')]),
        c('#| output: false\ny = 2', outputs=[nbformat.v4.new_output('stream', text='2\n')]),
        c('#| include: false\nz = 3'),
        c('#| echo: false\n#| output: asis\nshow_doc(f)', outputs=[nbformat.v4.new_output(
            'execute_result', data={'text/markdown': '---\n\n[source](https://x/y.py#L3){target="_blank"}\n\n### f\n\n*Doc.*\n\n---'})]),
        nbformat.v4.new_markdown_cell('See [f](https://emtheory.github.io/emtheory/core.html#f) and [em](13_em.ipynb).'),
    ])
    pages = {'core.html': {'src': Path('core.ipynb')}, '13_em.ipynb': {'src': Path('em.ipynb')}}
    out = convert.convert_nb(nb, Path('core.ipynb'), convert.Linker('https://emtheory.github.io/emtheory', pages), 'core')
    src = [x.source for x in out.cells]
    assert src[0] == '# Core\n\n{.lead}\nThe loop'
    assert out.cells[1].metadata.tags == ['remove-input'] and src[1] == 'x = 1'
    assert out.cells[2].metadata.tags == ['remove-output'] and src[2] == 'y = 2'
    assert not any('z = 3' in s for s in src)                                    # include: false drops the cell
    assert out.cells[3].cell_type == 'markdown' and src[3].startswith('### f')   # show_doc output joins the page
    assert '{target' not in src[3] and src[3].endswith('[source](https://x/y.py#L3)')
    assert '](core.ipynb#f)' in src[4] and '](em.ipynb)' in src[4]               # local links, nbdev page names

# ---- the browser check ------------------------------------------------------------------------------------------------
def _check(site, shots, pages):
    return subprocess.run([sys.executable, 'tools/docs/check.py', str(site), '--shots', str(shots), '--pages', *pages],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp('docs')
    env = dict(os.environ, DOCS_OUT=str(d/'site'), DOCS_WORK=str(d/'work'))
    r = subprocess.run(['tools/docs/build.sh'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return d/'site'

def _pages(site):
    "The landing page, the API reference and a page with a figure (the checks that need one of each)."
    meta = json.loads((site/'pages.json').read_text())
    fig = next(p['page'] for p in meta if p['images'] and p['page'] != 'index.html')
    return ['index.html', 'api.html', fig]

@needs_chromium
def test_check_passes_on_the_built_site(site, tmp_path):
    r = _check(site, tmp_path/'shots', _pages(site))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path/'shots').iterdir()) == sorted(p[:-5] + x for p in _pages(site) for x in ('.png', '.full.png'))

@needs_chromium
def test_check_fails_on_a_broken_site(site, tmp_path):
    broken = tmp_path/'broken'
    shutil.copytree(site, broken)
    pages = _pages(site)
    shutil.rmtree(broken/'_static'/'mathjax')                                   # no local MathJax
    fig_html = (broken/pages[2]).read_text()
    img = re.search(r'<img[^>]+src="(_images/[^"]+)"', fig_html).group(1)
    (broken/img).unlink()                                                       # a figure gone
    idx = broken/'index.html'
    idx.write_text(idx.read_text().replace('</article>', '<pre>#| hide\nfrom nbdev.showdoc import *</pre>'
                                           '<p><a href="nowhere.html">dead</a></p></article>', 1))
    api = broken/'api.html'
    api.write_text(api.read_text().replace('>load_faithful<', '>load_faithfull<'))
    r = _check(broken, tmp_path/'shots', pages)
    out = r.stdout
    assert r.returncode == 1, out
    assert 'math not typeset' in out and 'MathJax not loaded' in out
    assert "raw TeX '\\\\('" in out
    assert f'image did not load' in out and img in out
    assert 'hidden cell shows' in out
    assert 'broken link: nowhere.html' in out
    assert 'API reference lacks 1 public names: emtheory.datasets.load_faithful' in out

def test_display_math_is_read_as_pandoc_reads_it():
    "A formula line starting with `- ` must not become a list item (CommonMark) inside $$...$$ (pandoc/Quarto)."
    md = 'so\n$$\\log p = a\n- \\tfrac D2.$$\n\n```py\ns = "$$a\n- b$$"\n```\nand $$u\n% c\n- v$$'
    out = convert.join_display_math(md)
    assert '$$\\log p = a - \\tfrac D2.$$' in out
    assert 's = "$$a\n- b$$"' in out                 # code untouched
    assert '$$u\n% c\n- v$$' in out                  # a TeX comment: joining would comment out the rest

def test_a_sphinx_warning_fails_the_build(tmp_path):
    "sphinx-build runs with -W: a notebook link to a page that does not exist stops the build, naming it."
    work = tmp_path/'work'
    for d in ('src', 'static', 'extra'): (work/d).mkdir(parents=True)
    (work/'src'/'index.md').write_text('# Home\n\nSee [the missing chapter](nowhere.ipynb) and $x^2$.\n')
    cmd = [sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html', '-c', 'tools/docs', str(work/'src'), str(work/'html')]
    r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, DOCS_WORK=str(work)), capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert 'nowhere.ipynb' in r.stderr
    (work/'src'/'index.md').write_text('# Home\n\nSee $x^2$.\n')                       # the same page without it builds
    r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, DOCS_WORK=str(work)), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
