"""The documentation site: the converter's pieces, and the browser check failing when the site is broken.

The site is built once into a temporary folder (tools/docs/build.sh with DOCS_OUT/DOCS_WORK). tools/docs/check.py must
pass on it, and must fail, with the right message, on a copy with the local MathJax deleted, an image deleted, a hidden
cell's source showing, a dead internal link, a public name missing from the API reference, TeX outside math, a code
block that scrolls sideways at 1400 px and a paragraph too wide for 420 px, a figure without alt text, a class
without one of its attributes, a function without one of its parameters, a parameter's or a return value's docment
gone, and tracker wording ("issue") on a page; and on a copy whose stylesheet narrows the text column at 1400 px below
1000 px; and on a copy with a display formula that has no place to break and spills over the column at 420 px (while
long formulas that MathJax 4 breaks, at relations, signs, `,\\quad` or inside aligned rows, pass), the same formula
scaled below 0.8 on a page set to scale formulas instead of breaking them, and an API reference documenting a
re-exported name twice. Its code-only listing (`check.py --returns`) finds a public function
that returns a value without a return docment.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'/'docs'))
import convert

def _chromium():
    import importlib.util
    if importlib.util.find_spec('playwright') is None: return None
    for c in ('/usr/bin/chromium', shutil.which('chromium')):
        if c and os.access(c, os.X_OK): return c
needs_chromium = pytest.mark.skipif(_chromium() is None, reason='chromium or playwright is not installed on this '
                                    'machine, so the browser check cannot run (make docs-check installs both)')

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
    assert '{target' not in src[3] and '[source]' not in src[3]                 # no link to an unpublished repository
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
    from PIL import Image
    names, tiled = sorted(p.name for p in (tmp_path/'shots').iterdir()), 0
    for p in _pages(site):
        for w in (1400, 420):   # the whole page: one shot, or tiles 1..k of 12000 px (the last one may be shorter)
            stem = f'{p[:-5]}.{w}'
            got = [n for n in names if re.fullmatch(re.escape(stem) + r'(\.\d+)?\.png', n)]
            if got != [f'{stem}.png']:
                assert sorted(got) == sorted(f'{stem}.{k}.png' for k in range(1, len(got) + 1)) and len(got) > 1, got
                sizes = [Image.open(tmp_path/'shots'/f'{stem}.{k}.png').size for k in range(1, len(got) + 1)]
                assert all(sz == (w, 12000) for sz in sizes[:-1]) and sizes[-1][0] == w, sizes
                tiled += 1
    assert len(names) == sum(1 for n in names if n.endswith('.png')) and tiled   # the API reference is long

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
                                           '<p><a href="nowhere.html">dead</a></p>'
                                           '<div class="highlight"><pre style="white-space:pre !important;overflow-x:auto !important">'
                                           + 'x = 1  # ' + 'a long comment ' * 40 + '</pre></div>'
                                           '<p><span style="display:inline-block;width:600px">wide on a phone</span></p>'
                                           '<p>As the issue asks.</p></article>', 1))
    fig_html = (broken/pages[2]).read_text()
    (broken/pages[2]).write_text(re.sub(r'(<img\b[^>]*?)\salt="[^"]*"', r'\1 alt=""', fig_html, count=1))  # alt text gone
    api = broken/'api.html'                             # (a page without math: MathJax is gone from this copy)
    txt = api.read_text().replace('id="emtheory.datasets.load_faithful"', 'id="emtheory.datasets.load_faithfull"')
    txt = txt.replace('</article>', '<p>Raw TeX: the \\mathbb E of $x$.</p></article>', 1)
    i = txt.index('id="emtheory.em.GaussianMixtureEM"')
    txt = txt[:i] + txt[i:].replace('<strong>weights_</strong>', '<strong>weight_</strong>', 1)    # an attribute gone
    i = txt.index('id="emtheory.core.coordinate_ascent"')
    txt = txt[:i] + txt[i:].replace('<strong>tol</strong>', '<strong>tolerance</strong>', 1)      # a parameter gone
    i = txt.index('id="emtheory.core.e_step"')
    txt = txt[:i] + re.sub(r'(<strong>chunk_size</strong> \(<em>int</em>\)) – [^<]*', r'\1', txt[i:], count=1)  # a docment gone
    txt = txt[:i] + re.sub(r'(>Returns<span class="colon">:</span></dt>\s*<dd[^>]*><p>).*?</p>', r'\1</p>', txt[i:],
                           count=1, flags=re.S)                                                  # a return docment gone
    api.write_text(txt)
    r = _check(broken, tmp_path/'shots', pages)
    out = r.stdout
    assert r.returncode == 1, out
    assert 'math not typeset' in out and 'MathJax not loaded' in out
    assert "raw TeX '\\\\('" in out
    assert f'image did not load' in out and img in out
    assert 'hidden cell shows' in out
    assert 'broken link: nowhere.html' in out
    assert 'API reference lacks 1 public names: emtheory.datasets.load_faithful' in out
    assert 'TeX outside math (\\mathbb, $)' in out
    assert re.search(r'at 1400 px a (pre|div\.highlight) scrolls sideways', out), out
    assert re.search(r'at 420 px a p spills over the text column .*wide on a phone', out), out
    assert 'wide on a phone' not in ''.join(l for l in out.splitlines() if 'at 1400 px' in l)
    assert 'figure without alt text' in out
    assert 'emtheory.em.GaussianMixtureEM lacks the description of its attributes weights_' in out
    assert 'emtheory.core.coordinate_ascent does not list the parameters tol' in out
    assert 'emtheory.core.e_step does not describe its parameters chunk_size (no docment)' in out
    assert 'emtheory.core.e_step does not describe what it returns (no return docment)' in out
    assert 'emtheory.core.coordinate_ascent does not describe what it returns' not in out
    assert "internal wording on the page ('issue')" in out

@needs_chromium
def test_check_fails_on_a_narrow_column(site, tmp_path):
    "At 1400 px the text column gets at least 1000 px: a stylesheet that narrows it (as the theme's third column did) fails."
    broken = tmp_path/'broken'
    shutil.copytree(site, broken)
    css = broken/'_static'/'emtheory.css'
    css.write_text(css.read_text() + '\n@media (min-width: 1200px) { .bd-main .bd-content .bd-article-container '
                   '{ max-width: calc(100% - 17rem) !important; } }\n')            # the width the theme leaves
    r = _check(broken, tmp_path/'shots', ['index.html'])
    out = r.stdout
    assert r.returncode == 1, out
    m = re.search(r'at 1400 px the text column is (\d+) px wide \(at least 1000 px wanted\)', out)
    assert m and int(m.group(1)) < 1000, out
    assert 'at 420 px' not in out                      # the narrow screen is not affected

def test_returns_without_docment_are_listed(tmp_path, monkeypatch):
    "check.py --returns: a public function or method that returns a value (not self) needs the comment after `)->T:`."
    import check
    pkg = tmp_path/'fakelib'
    pkg.mkdir()
    (pkg/'__init__.py').write_text('')
    (pkg/'mod.py').write_text('''__all__ = ["f", "g", "h", "C"]
def f(x, # a number
     )->float:
    "No return docment."
    return 2. * x
def g(x, # a number
     )->float: # twice x
    return 2. * x
def h(x, # a number
     ):
    "Returns nothing."
    print(x)
class C:
    def fit(self, X): return self
    def score(self, X)->float:
        def inner(): return 1.
        return 0.
    def plot(self, X): inner = lambda: 1
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [q for q, _ in check.undocumented_returns('fakelib')] == ['fakelib.mod.f', 'fakelib.mod.C.score']
    assert check.returns_what(check.importlib.import_module('fakelib.mod').C.fit) == 'self'
    r = subprocess.run([sys.executable, 'tools/docs/check.py', '--returns', '--lib', 'fakelib'], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert r.returncode == 1 and 'no return docment: fakelib.mod.f (fakelib.mod:f)' in r.stdout, r.stdout + r.stderr
    assert '2 public functions and methods (2 definitions) return a value without a return docment' in r.stdout
    r = subprocess.run([sys.executable, 'tools/docs/check.py', '--returns'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr        # the package itself: every return is described

def test_annotations_evaluate():
    "nbdev's show_doc evaluates the annotations (`from __future__ import annotations` makes them strings): each must be a name the module has."
    import check, inspect
    bad = []
    for q, f in check.public_callables(check.public_api('emtheory'), 'emtheory'):
        if inspect.isclass(f) and issubclass(f, BaseException): continue   # no signature of its own
        try: inspect.signature(f, eval_str=True)
        except Exception as e: bad.append(f'{q}: {e}')
    assert not bad, bad

def test_display_math_is_read_as_pandoc_reads_it():
    "A formula line starting with `- ` must not become a list item (CommonMark) inside $$...$$ (pandoc/Quarto)."
    md = 'so\n$$\\log p = a\n- \\tfrac D2.$$\n\n```py\ns = "$$a\n- b$$"\n```\nand $$u\n% c\n- v$$'
    out = convert.join_display_math(md)
    assert '$$\\log p = a - \\tfrac D2.$$' in out
    assert 's = "$$a\n- b$$"' in out                 # code untouched
    assert '$$u\n% c\n- v$$' in out                  # a TeX comment: joining would comment out the rest
    inline = convert.join_display_math('the KL $a = b\n+ c$ costs $x$, and `$y\n- z$` is code')
    assert 'the KL $a = b + c$ costs $x$' in inline and '`$y\n- z$`' in inline

def test_alt_text_is_the_caption_in_plain_text():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('plot()', outputs=[nbformat.v4.new_output('display_data', data={'image/png': 'iVBOR'})]),
        nbformat.v4.new_markdown_cell('*Figure: the bound $\\mathcal{L}(q,\\theta)$ against $q_1$.*\n\nMore prose.')])
    convert.add_alt_text(nb.cells)
    assert nb.cells[0].metadata['mystnb']['image']['alt'] == 'the bound L(q,θ) against q_1.'

def test_show_docs_of_one_cell_in_definition_order():
    "nbdev inserts them reversed; the converter restores the order of the source."
    sd = lambda n: nbformat.v4.new_code_cell(f'#| echo: false\n#| output: asis\nshow_doc({n})')
    cells = [nbformat.v4.new_markdown_cell('x'), sd('kl_divergence'), sd('elbo'), sd('log_evidence')]
    out = convert.reorder_show_docs(cells, 'emtheory.bounds')
    import emtheory.bounds as b, inspect
    want = sorted(['kl_divergence', 'elbo', 'log_evidence'], key=lambda n: inspect.getsourcelines(getattr(b, n))[1])
    assert [c.source.split('(')[1][:-1] for c in out[1:]] == want

def test_api_reference_reads_the_code():
    "The autodoc hook's fields, from the code: docments, `self` returns, raises of what is called, fitted attributes."
    import apidoc
    from emtheory.em import GaussianMixtureEM
    from emtheory.core import check_array
    from emtheory.estimator import MixtureEstimator
    # GaussianMixtureEM.fit only adds the missing-value step and calls the shell's fit, which holds the checks
    rs = apidoc.raises(MixtureEstimator.fit, 'emtheory', GaussianMixtureEM)
    # raises read from the function and from the package functions it calls (_validate's, check_weights')
    assert 'ValueError' in rs and any('precisions_init must be positive' in m for m in rs['ValueError'])
    assert any('sample_weight must be numbers' in m for m in rs.get('DataTypeError', []))
    # GaussianMixtureEM.fit itself: through super().fit, and _check_X_new's super() passed on as a callable
    assert any('precisions_init must be positive' in m for m in apidoc.raises(GaussianMixtureEM.fit, 'emtheory', GaussianMixtureEM)['ValueError'])
    assert 'ValueError' in apidoc.raises(GaussianMixtureEM.predict, 'emtheory', GaussianMixtureEM)
    from emtheory.cli import main
    assert apidoc.raises(main, 'emtheory') == {}        # it catches every Exception: exit codes, not raises
    assert {'weights_', 'converged_', 'history_'} <= apidoc.assigned_attributes(GaussianMixtureEM, 'emtheory')
    assert {'weights_', 'history_'} <= set(apidoc.attributes(GaussianMixtureEM, 'emtheory'))   # _attributes, bases merged
    assert apidoc.returns_what(GaussianMixtureEM.fit) == 'self' and apidoc.returns_what(check_array) == 'value'
    lines = ['Score.']                                   # score's X has no docment: it takes fit's
    apidoc.fields(None, 'method', 'emtheory.em.GaussianMixtureEM.score', GaussianMixtureEM.score, {}, lines)
    assert lines[0] == 'Score.' and lines[2].startswith(':param X: (n\\_samples, n\\_features)')
    lines = []
    apidoc.fields(None, 'method', 'emtheory.em.GaussianMixtureEM.fit', GaussianMixtureEM.fit, {}, lines)
    assert ':returns: the object itself (so that calls chain)' in lines and any(l.startswith(':raises ValueError:') for l in lines)
    lines = []
    apidoc.fields(None, 'class', 'emtheory.em.GaussianMixtureEM', GaussianMixtureEM, {}, lines)
    assert lines[lines.index(':Attributes:') + 1].startswith('    * **n\\_features\\_in\\_** -- number of features')
    assert apidoc.rst('`x_y` and *_init, [f](g.html) |z|') == '``x_y`` and \\*\\_init, ``f`` \\|z\\|'
    page = apidoc.page('emtheory')
    estimators = page.split('.. autosummary::')[1].split('\n\n')[1].split()
    assert 'emtheory.em.GaussianMixtureEM' in estimators and 'emtheory.estimator.MixtureEstimator' not in estimators
    assert '.. autoclass:: emtheory.ppca.PPCA' in page and '.. autoclass:: emtheory.latent.PPCA' not in page   # once

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

@needs_chromium
def test_check_fails_on_wide_or_small_math_and_a_double_entry(site, tmp_path):
    """MathJax 4 breaks a long display formula into lines (at relations, + and -, `,\\quad`, inside the rows of an
    aligned block); one with no place to break spills over the column at 420 px, and check.py says so; on a page whose
    MathJax scales wide formulas instead, it is scaled below 0.8, and check.py says so. A re-exported name documented
    as a second full block fails too."""
    broken = tmp_path/'broken'
    shutil.copytree(site, broken)
    unbreakable = '\\mathrm{' + 'x' * 60 + '}'
    breakable = ('\\begin{aligned}a &= '
                 + ' + '.join(f'b_{{{i}}}' for i in range(1, 21)) + ',\\quad c = ' + ' - '.join(f'd_{{{i}}}' for i in range(1, 21))
                 + '\\\\ &= e\\end{aligned}')
    for page, overflow in (('index.html', 'linebreak'), ('cli.html', 'scale')):
        f = broken/page
        txt = f.read_text()
        assert '"displayOverflow": "linebreak"' in txt
        f.write_text(txt.replace('"displayOverflow": "linebreak"', f'"displayOverflow": "{overflow}"').replace('</article>',
            f'<div class="math notranslate nohighlight">\\[{unbreakable}\\]</div>'
            f'<div class="math notranslate nohighlight">\\[{breakable}\\]</div></article>', 1))
    api = broken/'api.html'
    txt = api.read_text()
    assert 'id="emtheory.latent.PPCA"' not in txt and 'href="#emtheory.ppca.ppca_mle" title="emtheory.ppca.ppca_mle"><code' in txt
    txt = txt.replace('</article>', '<dl class="py class"><dt class="sig sig-object py" id="emtheory.latent.PPCA">PPCA</dt>'
                      '<dd></dd></dl></article>', 1)                                          # documented a second time
    txt = txt.replace('href="#emtheory.ppca.ppca_mle" title="emtheory.ppca.ppca_mle"><code',
                      'href="#emtheory.ppca.nowhere" title="emtheory.ppca.ppca_mle"><code')    # the pointer broken
    api.write_text(txt)
    r = _check(broken, tmp_path/'shots', ['index.html', 'cli.html', 'api.html'])
    out = r.stdout
    assert r.returncode == 1, out
    index, cli = out.split('index.html', 1)[1].split('cli.html', 1)[0], out.split('cli.html', 1)[1].split('api.html', 1)[0]
    assert re.findall(r'at 420 px a (?:div\.math|mjx-container\S*) spills over the text column .*xxxx', index), out
    assert 'b₁' not in index and 'b_{1}' not in index and '𝑏1' not in index, out     # the breakable one fits
    assert 'at 1400 px' not in index, out                                             # both fit a wide column
    m = re.search(r'at 420 px a display formula is scaled to (0\.\d+) of its size \(at least 0\.8 wanted\): .\W*mathrm\{xxx', cli)
    assert m and float(m.group(1)) < 0.8, out
    assert 'API reference documents emtheory.ppca.PPCA twice: emtheory.latent.PPCA re-exports it' in out
    assert "the re-export emtheory.latent.ppca_mle points to 'emtheory.ppca.nowhere', not to emtheory.ppca.ppca_mle" in out

# ---- the reading order: one list (nbs/sidebar.yml) behind the landing page's list and the previous/next links ----------
def _fake_site(d:Path, order:list, chain:list):
    "A site whose landing page lists `order` under Reading order, and whose next/prev links follow `chain`."
    d.mkdir()
    seq = ['index.html'] + chain
    for k, page in enumerate(seq):
        head = ''.join(f'<link rel="{rel}" title="x" href="{seq[j]}" />' for rel, j in (('prev', k - 1), ('next', k + 1))
                       if 0 <= j < len(seq))
        body = ('<section id="reading-order"><h2>Reading order</h2><ol>'
                + ''.join(f'<li><a class="reference internal" href="{p}">{p}</a></li>' for p in order)
                + '</ol></section>') if page == 'index.html' else ''
        (d/page).write_text(f'<html><head>{head}</head><body>{body}</body></html>')

def test_reading_order_is_generated_from_the_sidebar_list():
    plan = [(None, Path('index.ipynb'), {'doc': Path('index'), 'src': Path('index.ipynb')}),
            ('Theory', Path('000_jensen.ipynb'), {'doc': Path('jensen'), 'src': Path('jensen.ipynb')}),
            ('Methods', Path('100_core.ipynb'), {'doc': Path('core'), 'src': Path('core.ipynb')}),
            ('Methods', Path('101_em.ipynb'), {'doc': Path('em'), 'src': Path('em.ipynb')})]
    md = convert.reading_order(plan, {Path('jensen'): "Jensen's inequality", Path('core'): 'The core', Path('em'): 'EM'})
    assert md.split('\n') == ['**Theory**', '', "1. [Jensen's inequality](jensen.ipynb)", '', '**Methods**', '',
                              '2. [The core](core.ipynb)', '3. [EM](em.ipynb)', '', '**Reference**', '',
                              '4. [API reference](api.rst)']

def test_prev_next_chain_follows_the_landing_pages_order(tmp_path):
    import check
    _fake_site(tmp_path/'ok', ['a.html', 'b.html', 'c.html'], ['a.html', 'b.html', 'c.html'])
    assert check.reading_chain(tmp_path/'ok') == []
    _fake_site(tmp_path/'swapped', ['a.html', 'b.html', 'c.html'], ['a.html', 'c.html', 'b.html'])
    probs = check.reading_chain(tmp_path/'swapped')
    assert any("visit ['a.html', 'c.html', 'b.html'], the landing page's reading order lists ['a.html', 'b.html', 'c.html']"
               in p for p in probs), probs
    _fake_site(tmp_path/'short', ['a.html', 'b.html'], ['a.html', 'b.html'])
    (tmp_path/'short'/'orphan.html').write_text('<html></html>')
    assert check.reading_chain(tmp_path/'short') == ['pages the previous/next links never reach: orphan.html']
    _fake_site(tmp_path/'back', ['a.html', 'b.html'], ['a.html', 'b.html'])
    (tmp_path/'back'/'b.html').write_text('<link rel="prev" href="index.html" />')
    assert check.reading_chain(tmp_path/'back') == ['the previous link of b.html is index.html, not a.html']

# ---- rules on the notebooks' sources (tools/docs/rules.py), each failing on a broken copy -------------------------------
def _nb(path:Path, *cells)->Path:
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
    return path

def test_rule_hand_typed_chapter_number(tmp_path):
    import rules
    md = nbformat.v4.new_markdown_cell
    bad = _nb(tmp_path/'bad.ipynb', md('As Chapter 3 showed, and chapters 2 and 4 too.'))
    assert [(r, w) for _, r, w in rules.problems(bad)] == [('chapter-number', 'Chapter 3'), ('chapter-number', 'chapters 2')]
    ok = _nb(tmp_path/'ok.ipynb', md('As [EM as coordinate ascent](em_coordinate_ascent.html) showed; '
                                     '`chapter 3` in code and $\\text{chapter 3}$ in math are not prose.'))
    assert rules.problems(ok) == []

def test_rule_workshop_words(tmp_path):
    import rules
    md = nbformat.v4.new_markdown_cell
    bad = _nb(tmp_path/'bad.ipynb', md('## (a) Amortized EM\n\nSeed of the whole argument: a parametrised $q$.'),
              md('### The bar on wine\n\nClose.'), md('As the issue asks, this is done.'))
    got = [(r, w) for _, r, w in rules.problems(bad)]
    assert got == [('workshop-word', 'Seed of the whole argument:'), ('workshop-word', 'The bar'),
                   ('workshop-word', 'issue')], got
    ok = _nb(tmp_path/'ok.ipynb', md('A random seed; a fixed seed. Rows held out (seed 0). `seed=3` and `seed` are code. '
                                     'The $k$-means++ seeds. The bar chart of $\\bar x$ is fine.'))
    assert rules.problems(ok) == []

def test_rule_long_export_cell(tmp_path):
    import rules
    body = 'def f(x):\n' + '    x += 1\n' * 85 + '    return x'
    bad = _nb(tmp_path/'bad.ipynb', nbformat.v4.new_code_cell('#| export\n' + body),
              nbformat.v4.new_code_cell(body))                                           # not exported: no limit
    assert [(r, w) for _, r, w in rules.problems(bad)] == [('export-length', 'the cell defining f')]
    short = _nb(tmp_path/'short.ipynb', nbformat.v4.new_code_cell('#| export\n' + 'def f(x):\n' + '    x += 1\n' * 70))
    assert rules.problems(short) == []

def test_rule_mixed_imports(tmp_path):
    "nbdev's docs processor refuses an unexported cell with imports and other code: the rule finds it before the build."
    import rules
    code = nbformat.v4.new_code_cell
    bad = _nb(tmp_path/'bad.ipynb', code('import numpy as np\nx = np.ones(3)'), code('def f():\n    import os\n    return 1\nf()'))
    assert [r for _, r, _ in rules.problems(bad)] == ['mixed-imports', 'mixed-imports']
    ok = _nb(tmp_path/'ok.ipynb', code('import numpy as np\nfrom pathlib import Path'), code('x = np.ones(3)'),
             code('#| export\nimport os\nX = 1'))
    assert rules.problems(ok) == []

def test_rules_fail_on_any_offence(tmp_path, capsys):
    "Every offence is printed with its notebook and rule, and fails."
    import rules
    bad = _nb(tmp_path/'bad.ipynb', nbformat.v4.new_markdown_cell('Chapter 3 and the issue.'))
    assert rules.main([bad]) == 1
    out = capsys.readouterr().out
    assert f'FAIL {bad} | chapter-number | Chapter 3' in out and f'FAIL {bad} | workshop-word | issue' in out
    assert 'docs rules: 1 notebooks, 2 problems' in out
    assert rules.main([_nb(tmp_path/'ok.ipynb', nbformat.v4.new_markdown_cell('Fine.'))]) == 0

def test_rules_pass_on_the_notebooks():
    "The real notebooks: no offence (make docs-check runs the same)."
    r = subprocess.run([sys.executable, 'tools/docs/rules.py'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
