# Sphinx configuration of the offline documentation site (tools/docs/build.sh passes -c tools/docs): the converted
# notebooks in $DOCS_WORK/src (myst-nb, nothing executed), the API reference by autodoc (apidoc.py), MathJax 4 from
# $DOCS_WORK/static/mathjax (npm, no CDN).
import json, os, sys
from configparser import ConfigParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE.parents[1]/os.environ.get('DOCS_WORK', 'build/docs')  # relative to the repository, or absolute
_cfg = ConfigParser(delimiters=['=']); _cfg.read(HERE.parents[1]/'settings.ini', encoding='utf-8')
project, author, copyright, release = (_cfg['DEFAULT'][k] for k in ('title', 'author', 'copyright', 'version'))
language, suppress_warnings = 'en', ['myst.header']   # a page may go from its title (h1) to h3
sys.path.insert(0, str(HERE))
extensions = ['myst_nb', 'sphinx.ext.mathjax', 'sphinx.ext.autodoc', 'sphinx.ext.autosummary', 'apidoc']
autodoc_typehints, autodoc_member_order, autosummary_generate = 'description', 'bysource', False
nb_execution_mode, nb_merge_streams, nb_render_markdown_format = 'off', True, 'myst'
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_block']
myst_dmath_double_inline, myst_heading_anchors = True, 4
# MathJax 4 breaks a formula wider than its column into lines (inline ones too), measured a little narrower than the
# column: its estimate of a line's width runs a few pixels short of the drawn one at 420 px (check.py measures)
mathjax_path = 'mathjax/tex-chtml.js'
mathjax4_config = {'loader': {'paths': {'fonts': '[mathjax]/fonts'}},
                   'output': {'displayOverflow': 'linebreak', 'linebreaks': {'width': '96%'}}}
html_theme, html_title = 'sphinx_book_theme', project
html_static_path = [str(HERE/'_static'), str(WORK/'static')]
html_extra_path = [str(WORK/'extra')]  # pages.json: the page order tools/docs/check.py expects
html_css_files, html_js_files = ['emtheory.css'], ['emtheory.js']
html_theme_options = {'home_page_in_toc': True, 'show_navbar_depth': 1, 'show_toc_level': 2, 'navigation_with_keys': False,
                      'use_download_button': True, 'use_fullscreen_button': False}
html_show_sphinx = html_use_index = False   # no index entries in the notebooks: an empty page otherwise
html_last_updated_fmt = None

def setup(app):
    """Search excerpts on a site opened from disk: Sphinx's search fetches each result's page for its excerpt, which a
    browser refuses on file:// URLs; _static/search_offline.js answers it from each page's text (search_texts.js)."""
    texts = {}
    def page(app, name, template, context, doctree):
        if name == 'search': app.add_js_file('search_texts.js'); app.add_js_file('search_offline.js')
        elif doctree is not None: texts[name] = ' '.join(doctree.astext().split())[:30000]
    def done(app, exc):
        if exc is None: (Path(app.outdir)/'_static'/'search_texts.js').write_text(f'window.EMTHEORY_SEARCH_TEXTS = {json.dumps(texts)};\n')
    app.connect('html-page-context', page); app.connect('build-finished', done)
