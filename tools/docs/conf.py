# Sphinx configuration of the offline documentation site (tools/docs/build.sh passes -c tools/docs).
# Sources: the converted notebooks in $DOCS_WORK/src; MathJax 4 from $DOCS_WORK/static/mathjax (npm, no CDN).
import os
from configparser import ConfigParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT/os.environ.get('DOCS_WORK', 'build/docs')  # relative to the repo root, or absolute
_cfg = ConfigParser(delimiters=['=']); _cfg.read(ROOT/'settings.ini', encoding='utf-8')
_s = _cfg['DEFAULT']

project = _s['title']
author = _s['author']
copyright = _s['copyright']
release = version = _s['version']
root_doc = 'index'
language = 'en'

extensions = ['myst_nb', 'sphinx.ext.mathjax']
exclude_patterns = ['**.ipynb_checkpoints']

# myst / myst-nb: notebooks are committed with outputs; nothing is executed here
nb_execution_mode = 'off'
nb_merge_streams = True
nb_render_markdown_format = 'myst'
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_block']
myst_dmath_double_inline = True
myst_heading_anchors = 4
# show_doc renders every name as an h3 right under the page's h1 (as nbdev's Quarto site does)
suppress_warnings = ['myst.header']

# MathJax 4 served from _static (no network at view time), its font beside it. A formula wider than its column is
# broken into lines (inline ones too, MathJax's default); the lines are measured a little narrower than the column, as
# MathJax's own estimate of a line's width runs a few pixels short of the drawn one at 420 px (check.py measures).
mathjax_path = 'mathjax/tex-chtml.js'
mathjax4_config = {'loader': {'paths': {'fonts': '[mathjax]/fonts'}},
                   'output': {'displayOverflow': 'linebreak', 'linebreaks': {'width': '96%'}}}

html_theme = 'sphinx_book_theme'
html_title = project
html_static_path = [str(HERE/'_static'), str(WORK/'static')]
html_extra_path = [str(WORK/'extra')]  # pages.json: the page order tools/docs/check.py expects
html_css_files = ['emtheory.css']
html_js_files = ['emtheory.js']
html_theme_options = {
    'home_page_in_toc': True,
    'show_navbar_depth': 1,
    'show_toc_level': 2,
    'navigation_with_keys': False,
    'use_download_button': True,
    'use_fullscreen_button': False,
}
html_show_sphinx = False
html_use_index = False  # no index entries in the notebooks: an empty page otherwise
html_last_updated_fmt = None

def setup(app):
    "The search page gets the offline excerpts (tools/docs/search_texts.py writes search_texts.js after the build)."
    def search_page(app, pagename, templatename, context, doctree):
        if pagename == 'search':
            app.add_js_file('search_texts.js'); app.add_js_file('search_offline.js')
    app.connect('html-page-context', search_page)
