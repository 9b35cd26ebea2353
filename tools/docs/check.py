"""Check the built documentation site the way a reader sees it: every page in headless Chromium.

    python tools/docs/check.py [SITE=_docs] [--shots _docs_check] [--pages a.html b.html] [--no-shots]

The site is served on 127.0.0.1 (a free port) by a small server that adds one probe script to each HTML page. After
the page loaded, the probe waits for MathJax's typesetting and the images, and writes what it found into the DOM, where
the checker reads it (playwright drives Debian's chromium). Per page it checks:
  - math: every Sphinx math element holds a typeset `mjx-container`, and there is no MathJax error (`mjx-merror`);
  - no raw TeX (`$$`, `\\begin{`, `\\end{`, `\\(`, `\\[`) in the visible text outside code, and no TeX at all
    (a command such as `\\mathbb`, a `$`, a braced `_{`/`^{`) in text outside math, code and cell outputs;
  - layout, at both widths: no code block, output, table, formula, image or paragraph wider than the text column or
    hiding part of itself behind a sideways scroll; at 1400 px the text column (the article's content box) is at least
    1000 px wide, and so is the widest code cell, output or display formula on the page (when it has one);
  - every figure has alt text (not a file name);
  - no tracker wording: the word "issue" on a page;
  - every image loaded (naturalWidth > 0), every internal link and fragment resolves, no request failed (404),
    nothing was loaded from outside the site (no CDN);
  - no hidden cell shows (`#|` directives, `from nbdev.showdoc import`);
  - the landing page's sidebar lists the pages in nbdev's order (pages.json written by the build);
  - (once per site, from the HTML files) the previous/next links, followed from the landing page, visit every page in
    the order of the landing page's "Reading order" links, and each previous link points back;
  - the API reference has a block for every public name of the package (each module's `__all__`); each callable's
    block lists every parameter of its signature (and its methods, inherited ones included); each class lists every
    fitted attribute its source assigns (`self.name_ = ...`) with a description; the estimators describe every
    parameter of their constructor and of `fit`; every function and method that returns a value (a `return` with a
    value, or a `yield`, in its own body) says what it returns (its return docment, or `self`); a name a module
    re-exports from another public module (the same object) has one block, under its home module, and the
    re-exporting module only a pointer to it;
  - at each width no formula of the prose is scaled below 0.8 of its size to fit the column (MathJax 4 breaks a long
    one into lines, conf.py; only a formula computed in a cell's output is scaled, by emtheory.js);
It probes each page at 1400 and at 420 px wide (the viewport emulated at that width), photographs the whole page at
each width into the shots folder (NAME.1400.png, NAME.420.png; a page taller than 12000 px in tiles of 12000 px,
NAME.420.1.png, NAME.420.2.png, ..., the last one overlapping the one before; one browser per page and width, driven
with playwright (Debian's chromium), probes and photographs; with --no-shots none), and exits 1 when any check fails.

    python tools/docs/check.py --returns [--lib emtheory]

lists, from the code alone (no site, no browser), the public functions and methods (inherited ones included) that
return a value but have no return docment (the comment after `)->T:`), with their count; exits 1 when there is one.
"""
import argparse, ast, http.server, importlib, inspect, json, os, pkgutil, re, shutil, sys, textwrap, threading
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--hide-scrollbars']
RAW_TEX = ['$$', '\\begin{', '\\end{', '\\(', '\\[']
# TeX that was not typeset: a command (\\log, \\mathbb, \\{), a dollar sign, or a braced sub/superscript, in text
# outside math, code and cell outputs (myst-nb marks notebook sections mathjax_ignore: only .math gets typeset)
TEX_OUTSIDE = re.compile(r'\\[A-Za-z]+|\\[{}\[\](),;!|]|\$|[_^]\{')
INTERNAL = re.compile(r'\bissues?\b', re.I)   # pages speak to the reader, not about the project's tracker
BAD_ALT = re.compile(r'^\s*$|^[0-9a-f]{16,}(\.\w+)?$|\.(png|jpe?g|svg|gif)$', re.I)
LEAKS = [(re.compile(r'#\|\s*[\w-]'), 'an nbdev directive (#| ...)'),
         (re.compile(r'from nbdev\.showdoc import'), 'the hidden `from nbdev.showdoc import` cell')]
SKIP_DIRS = ('_static', '_sources', '_images')

PROBE = r"""<script>/* docs-check probe: added by tools/docs/check.py's server, not part of the site */
(function(){
  function visible(el){ return el.checkVisibility ? el.checkVisibility({visibilityProperty:true, opacityProperty:false})
                                                  : el.getClientRects().length > 0; }
  function text(skip){
    var out = [], w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), n;
    while ((n = w.nextNode())) {
      var p = n.parentElement;
      if (!p || !n.nodeValue.trim()) continue;
      if (p.closest('script,style,noscript,template,#__docs_check__')) continue;
      if (skip && p.closest(skip)) continue;
      if (!visible(p)) continue;
      out.push(n.nodeValue);
    }
    return out.join(' ');
  }
  function images(){
    return Promise.all([].map.call(document.images, function(im){
      im.loading = 'eager';
      return (im.complete && im.naturalWidth) ? null : im.decode().catch(function(){});
    }));
  }
  function overflow(){
    /* blocks wider than the text column, or hiding part of their content behind a sideways scroll */
    var col = document.querySelector('article.bd-article') || document.body, out = [];
    var cr = col.getBoundingClientRect();
    var sel = 'pre, div.highlight, div.math, mjx-container > mjx-math, table, img, div.cell_output, .api-sig, dl, dd, dt, p, li, td, h1, h2, h3, h4';
    col.querySelectorAll(sel).forEach(function(el){
      if (!visible(el)) return;
      var math = el.tagName == 'MJX-MATH', r = el.getBoundingClientRect(), cs = getComputedStyle(el);
      var wide = !math && el.tagName != 'IMG' && el.scrollWidth > el.clientWidth + 1;
      var hidden = wide && /(auto|scroll|hidden)/.test(cs.overflowX);
      var spill = (wide && !hidden) || r.right > cr.right + 1 || r.left < cr.left - 1;
      if (hidden || spill) {
        if (math) el = el.parentElement;
        out.push({what: el.tagName.toLowerCase() + (el.className && typeof el.className == 'string' ? '.' + el.className.split(' ')[0] : ''),
                  how: hidden ? 'scrolls sideways (' + el.scrollWidth + ' px of content in ' + el.clientWidth + ')'
                              : 'spills over the text column (' + Math.round(Math.max(r.width, el.scrollWidth || 0)) + ' px, column ' + Math.round(cr.width) + ')',
                  text: (el.textContent || el.getAttribute('src') || '').replace(/\s+/g, ' ').trim().slice(0, 90)});
      }
    });
    return out;
  }
  function mathfit(){
    /* the formulas of the prose (not computed output) that MathJax scaled down to fit (its overflow "scale"; conf.py
       has it break them into lines instead), with their TeX */
    var items = []; try { items = Array.from(MathJax.startup.document.math); } catch (e) {}
    return items.map(function(it){
      var c = it.typesetRoot;
      if (!c || !c.isConnected || c.getAttribute('overflow') != 'scale' || c.closest('.cell_output, .output') || !visible(c)) return null;
      return {fit: parseFloat(c.style.fontSize || '100') / 100 / it.metrics.scale, display: it.display,
              tex: it.math.replace(/\s+/g, ' ').trim().slice(0, 80)};
    }).filter(Boolean);
  }
  function column(){
    /* the article's content width, and the widest code cell, output or display formula in it */
    var a = document.querySelector('article.bd-article') || document.querySelector('.bd-article-container');
    if (!a) return {column: 0, block: 0};
    var cs = getComputedStyle(a), w = 0;
    a.querySelectorAll('div.cell, div.highlight, div.cell_output, div.math').forEach(function(el){
      if (visible(el)) w = Math.max(w, el.getBoundingClientRect().width); });
    return {column: Math.round(a.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)), block: Math.round(w)};
  }
  function report(err){
    var mj = window.MathJax && window.MathJax.startup ? 'loaded ' + (window.MathJax.version || '') : 'not loaded';
    var math = [].slice.call(document.querySelectorAll('.math'));
    var r = {
      url: location.href, title: document.title, error: err || null, mathjax: mj,
      height: document.documentElement.scrollHeight,
      math: math.length,
      untypeset: math.filter(function(e){ return !e.querySelector('mjx-container'); })
                     .map(function(e){ return e.textContent.slice(0, 80); }),
      mjx: document.querySelectorAll('mjx-container').length,
      merror: [].map.call(document.querySelectorAll('mjx-merror, [data-mjx-error]'), function(e){
                return (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120); }),
      prose: text('pre, code, kbd, samp, .highlight, mjx-container, mjx-assistive-mml, .cell_output, .output, .api-sig'),
      alltext: text(null),
      images: [].map.call(document.images, function(im){
                return {src: im.currentSrc || im.src, ok: im.complete && im.naturalWidth > 0, w: im.naturalWidth}; }),
      links: [].map.call(document.querySelectorAll('a[href]'), function(a){ return a.href; }),
      resources: [].map.call(document.querySelectorAll('link[href], script[src], img[src], iframe[src]'),
                   function(e){ return e.href || e.src; }),
      loaded: performance.getEntriesByType('resource').map(function(e){
                return {name: e.name, status: e.responseStatus || 0}; }),
      ids: [].map.call(document.querySelectorAll('[id], a[name]'), function(e){ return e.id || e.getAttribute('name'); }),
      headings: [].map.call(document.querySelectorAll('h1, h2, h3, h4'), function(h){
                  return {level: +h.tagName[1], text: h.textContent.replace(/[#\u00b6]/g, '').trim()}; }),
      nav: [].map.call(document.querySelectorAll('nav.bd-docs-nav a.reference'), function(a){ return a.href; }),
      width: window.innerWidth,
      overflow: overflow(),
      layout: column(),
      mathfit: mathfit(),
      figures: [].map.call(document.querySelectorAll('article img'), function(im){
                 return {src: (im.currentSrc || im.src).split('/').pop(), alt: im.getAttribute('alt')}; }),
      api: [].map.call(document.querySelectorAll('[data-name][data-kind]'), function(o){
             function fields(cls){
               var dl = o.querySelector(':scope > dl.' + cls + ', :scope > p + dl.' + cls);
               if (!dl) return null;
               return [].map.call(dl.querySelectorAll(':scope > dt'), function(dt){
                 var dd = dt.nextElementSibling;
                 return {key: dt.getAttribute('data-key'), doc: dd ? dd.textContent.trim() : ''}; });
             }
             return {name: o.getAttribute('data-name'), kind: o.getAttribute('data-kind'), target: o.getAttribute('data-target'),
                     params: fields('api-params'), attributes: fields('api-attributes'),
                     returns: fields('api-returns')}; })
    };
    var pre = document.createElement('pre');
    pre.id = '__docs_check__'; pre.style.display = 'none';
    pre.textContent = JSON.stringify(r);
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function(){
    setTimeout(function(){
      var mj = (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) || Promise.resolve();
      mj = mj.then(function(){ return window.emtheoryMathReady; });   /* the site's own table fitting */
      Promise.all([mj, images()]).then(function(){ setTimeout(function(){ report(null); }, 200); },
                                       function(e){ report('MathJax failed: ' + e); });
    }, 100);
  });
})();
</script>"""

WIDE, MIN_COLUMN = 1400, 1000  # at a window this wide the text column (and the widest code/output/math) gets this much
MIN_MATH = 0.8   # a formula of the prose may be scaled down to fit its column, not below this (MathJax breaks it instead)

# ---- the server ------------------------------------------------------------------------------------------------------
class Handler(http.server.SimpleHTTPRequestHandler):
    log = None  # list of (status, path, referer), set per server
    def log_message(self, *a): pass
    def send_response(self, code, message=None):
        if self.path == '/favicon.ico' and code == 404: return super().send_response(code, message)  # the browser's own guess
        self.log.append((code, self.path, self.headers.get('Referer', '')))
        super().send_response(code, message)
    def do_GET(self):
        p = Path(self.translate_path(self.path))
        if p.is_dir(): p = p/'index.html'
        if p.suffix == '.html' and p.is_file():
            body = p.read_bytes().replace(b'</body>', PROBE.encode() + b'</body>', 1)
            self.send_response(200)
            self.send_header('Content-Type', 'text/html; charset=utf-8')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers(); self.wfile.write(body)
        else: super().do_GET()

def serve(site:Path):
    log = []
    handler = type('H', (Handler,), {'log': log})
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), lambda *a, **k: handler(*a, directory=str(site), **k))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, log

# ---- chromium ----------------------------------------------------------------------------------------------------------
def chromium()->str:
    for c in ('/usr/bin/chromium', shutil.which('chromium') or '', shutil.which('chromium-browser') or ''):
        if c and os.access(c, os.X_OK): return c
    sys.exit('docs-check: chromium is not installed (tools/docs/check.sh installs it: apt-get install -y chromium)')

WIDTHS = (1400, 420)  # a laptop and a phone: every page is probed (and photographed) at both

TILE = 12000   # px of page per screenshot: a longer page is photographed in several tiles (NAME.W.1.png, NAME.W.2.png, ...)

SETTLE = ('new Promise(function(ok){ setTimeout(function(){ requestAnimationFrame(function(){ requestAnimationFrame(ok); }); }, '
          '%d); })')
UNSTICK = """[].forEach.call(document.querySelectorAll('body *'), function(e){
  if (getComputedStyle(e).position == 'sticky') e.style.setProperty('position', 'relative', 'important'); })"""

def tiles(height:int)->list:
    "(top, height) of the tiles that cover a page `height` px high: TILE px each, the last one overlapping the one before."
    if height <= TILE: return [(0, max(height, 600))]
    return [(min(top, height - TILE), TILE) for top in range(0, height, TILE)]

def visit(exe:str, url:str, shots:Path|None, name:str, width:int)->tuple:
    """(probe report, error or None) of the page at `width`: loaded in a `width` x 1800 px viewport until the probe's
    report is written (MathJax done, images decoded); with `shots`, the whole page photographed there, in tiles: the
    viewport made one tile high, its sticky bars made to scroll with the page (else they would cover the top of every
    tile), scrolled to each tile in turn (NAME.W.png, or NAME.W.1.png, NAME.W.2.png, ...). Tried twice when the browser
    dies (a busy machine)."""
    for attempt in range(2):
        r, err = _visit(exe, url, shots, name, width)
        if r and not err: break
    return r, err

def _visit(exe, url, shots, name, width):
    from playwright.sync_api import sync_playwright, Error
    r = None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            page = browser.new_page(viewport={'width': width, 'height': 1800})
            page.goto(url)
            r = json.loads(page.wait_for_selector('#__docs_check__', state='attached', timeout=90000).text_content())
            if shots is None: return r, None
            page.evaluate(UNSTICK)
            ts = tiles(page.evaluate('document.documentElement.scrollHeight'))
            page.set_viewport_size({'width': width, 'height': ts[0][1]})
            page.evaluate(SETTLE % 600)
            if len(ts) > 1: ts = tiles(page.evaluate('document.documentElement.scrollHeight'))   # in the taller window
            for k, (top, th) in enumerate(ts, 1):
                page.evaluate(f"window.scrollTo({{top: {top}, left: 0, behavior: 'instant'}}), " + SETTLE % 50)
                page.screenshot(path=shots/(f'{name}.{width}.png' if len(ts) == 1 else f'{name}.{width}.{k}.png'))
            return r, None
        except (Error, OSError, ValueError) as e:
            return r or {'error': f'the page did not finish loading ({e})'}, f'screenshot at {width} px failed: {e}'
        finally: browser.close()

# ---- checks ------------------------------------------------------------------------------------------------------------
def public_api(lib:str)->dict:
    "Each public module's __all__ (private `_x` modules skipped), computed here independently of the page generator."
    pkg = importlib.import_module(lib)
    out = {}
    for m in sorted(pkgutil.walk_packages(pkg.__path__, lib + '.'), key=lambda m: m.name):
        if any(p.startswith('_') for p in m.name.split('.')): continue
        mod = importlib.import_module(m.name)
        names = list(getattr(mod, '__all__', []))
        if names: out[m.name] = names
    return out

def reexports(api:dict)->dict:
    """`module.name` -> `home.name` for the names a module re-exports from another public module (the same object, in
    that module's `__all__` under the same name): the API reference documents them once, under the home module."""
    out = {}
    for m, names in api.items():
        mod = importlib.import_module(m)
        for n in names:
            o = getattr(mod, n)
            h = getattr(o, '__module__', None) if (inspect.isclass(o) or inspect.isroutine(o)) else None
            if h and h != m and n in api.get(h, ()) and getattr(importlib.import_module(h), n, None) is o:
                out[f'{m}.{n}'] = f'{h}.{n}'
    return out

def _fn_nodes(obj):
    try: tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (TypeError, OSError, SyntaxError): return []
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

def assigned_attributes(cls, lib:str)->set:
    "scikit-learn's fitted attributes: `self.name_ = ...` in the methods of the class and its bases in the package."
    out = set()
    for c in cls.__mro__:
        if c.__module__.split('.')[0] != lib: continue
        for o in vars(c).values():
            if not inspect.isfunction(o): continue
            for fn in _fn_nodes(o):
                for n in ast.walk(fn):
                    ts = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, (ast.AnnAssign, ast.AugAssign)) else []
                    for t in ts:
                        for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                            if (isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == 'self'
                                    and e.attr.endswith('_') and not e.attr.startswith('_')): out.add(e.attr)
    return out

def _own_def(obj):
    "The function's definition node, or None without source."
    try: tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (TypeError, OSError, SyntaxError): return None
    return next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)

def _own_nodes(fn):
    "The nodes of a function's own body: nested functions, classes and lambdas excluded."
    todo = list(fn.body)
    while todo:
        n = todo.pop()
        yield n
        todo += [c for c in ast.iter_child_nodes(n)
                 if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]

def returns_what(obj)->str|None:
    "'value' when the function's own body returns a value (or yields), 'self' when every such return is `self`, else None."
    fn = _own_def(obj)
    if fn is None: return None
    rets = [n.value for n in _own_nodes(fn) if isinstance(n, ast.Return) and n.value is not None]
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(fn)): return 'value'
    if not rets: return None
    return 'self' if all(isinstance(r, ast.Name) and r.id == 'self' for r in rets) else 'value'

def return_docment(obj)->str:
    "The comment after `)->T:` (fastcore's docments)."
    from fastcore.docments import docments
    try: return (dict(docments(inspect.unwrap(obj), full=True)).get('return') or {}).get('docment') or ''
    except Exception: return ''

def public_callables(api:dict, lib:str):
    "(public name, function) of every public function and of every public method of the public classes, inherited included."
    for m, names in api.items():
        mod = importlib.import_module(m)
        for n in names:
            o = getattr(mod, n)
            if not callable(o): continue
            if not inspect.isclass(o): yield f'{m}.{n}', o; continue
            for mn in dir(o):
                f = inspect.getattr_static(o, mn)
                f = getattr(f, '__func__', f)
                if mn.startswith('_') or not inspect.isfunction(f): continue
                if any(mn in vars(c) for c in o.__mro__ if c.__module__.split('.')[0] == lib): yield f'{m}.{n}.{mn}', f

def undocumented_returns(lib:str)->list:
    "[(public name, function)] of the public functions and methods that return a value (not self) without a return docment."
    return [(q, f) for q, f in public_callables(public_api(lib), lib)
            if returns_what(f) == 'value' and not return_docment(f)]

def api_tables(found:list, api:dict, lib:str)->list:
    """Each public callable's block lists every parameter of its signature; every fitted attribute of a class (read
    from its source) is listed with a description; every parameter of every public callable (and of each public method)
    is described (its docment, or the same parameter's docment in the class's `fit` or constructor)."""
    blocks = {b['name']: b for b in found}
    probs, again = [], reexports(api)
    for m, names in api.items():
        mod = importlib.import_module(m)
        for n in names:
            o, q = getattr(mod, n), f'{m}.{n}'
            b = blocks.get(q)
            if q in again:   # a re-export: one block, under its home module; here only a pointer to it
                if b is not None and b.get('kind') != 'alias':
                    probs.append(f'API reference documents {again[q]} twice: {q} re-exports it (it should only say '
                                 f'where it is documented)')
                elif b is not None and b.get('target') != again[q]:
                    probs.append(f'API reference: the re-export {q} points to {b.get("target")!r}, not to {again[q]}')
                continue
            if b is not None and b.get('kind') == 'alias':
                probs.append(f'API reference: {q} is listed as a re-export of {b.get("target")}, but is defined in {m}'); continue
            if not callable(o): continue
            if b is None: probs.append(f'API reference: no block for {q}'); continue
            todo = [(q, o, b)]
            if inspect.isclass(o):
                for mn in dir(o):
                    f = inspect.getattr_static(o, mn)
                    f = getattr(f, '__func__', f)
                    if mn.startswith('_') or not inspect.isfunction(f): continue
                    if not any(mn in vars(c) for c in o.__mro__ if c.__module__.split('.')[0] == lib): continue
                    mb = blocks.get(f'{q}.{mn}')
                    if mb is None: probs.append(f'API reference: {q} does not list its method {mn}'); continue
                    todo.append((f'{q}.{mn}', f, mb))
                attrs = assigned_attributes(o, lib)
                got = {a['key']: a['doc'] for a in (b.get('attributes') or [])}
                if attrs and not b.get('attributes'): probs.append(f'API reference: {q} has no Attributes (sets {", ".join(sorted(attrs))})')
                else:
                    miss = sorted(a for a in attrs if not got.get(a))
                    if miss: probs.append(f'API reference: {q} lacks the description of its attributes {", ".join(miss)}')
            for name, f, blk in todo:
                try: sig = inspect.signature(f)
                except (TypeError, ValueError): continue
                want = [p for i, p in enumerate(sig.parameters) if not (i == 0 and p in ('self', 'cls') and blk['kind'] != 'class')]
                got = {p['key']: p['doc'] for p in (blk.get('params') or [])}
                if want and blk.get('params') is None: probs.append(f'API reference: {name} has no Parameters'); continue
                miss = [p for p in want if p not in got]
                if miss: probs.append(f'API reference: {name} does not list the parameters {", ".join(miss)}')
                nodoc = [p for p in want if p in got and not got[p]]
                if nodoc: probs.append(f'API reference: {name} does not describe its parameters {", ".join(nodoc)} (no docment)')
                if blk['kind'] != 'class' and returns_what(f) is not None:   # a value, or self
                    ret = blk.get('returns') or []
                    if not ret or not ret[0]['doc']:
                        probs.append(f'API reference: {name} does not describe what it returns (no return docment)')
    return probs

def page_ids(site:Path, rel:str, reports:dict)->set:
    if rel in reports and 'ids' in reports[rel]: return set(reports[rel]['ids'])
    txt = (site/rel).read_text(errors='replace')
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', txt))

def snippet(text:str, pat:str)->str:
    i = text.find(pat)
    return ' '.join(text[max(0, i-40):i+60].split())

def check_page(rel:str, r:dict, site:Path, origin:str, reports:dict, expected_nav:list|None, api:dict|None,
               n_figures:int=0, extra:list=(), lib:str|None=None)->list:
    "r: the probe at the first width; extra: the probes at the other widths (only their layout is checked)."
    if r.get('error') and 'mathjax' not in r: return [r['error']]
    probs = []
    if r.get('error'): probs.append(r['error'])
    if r['math']:
        if not r['mjx']: probs.append(f"math not typeset: {r['math']} math elements, no mjx-container (MathJax {r['mathjax']})")
        elif r['untypeset']: probs.append(f"{len(r['untypeset'])} of {r['math']} math elements not typeset, e.g. {r['untypeset'][0]!r}")
    if r['merror']: probs.append(f"{len(r['merror'])} MathJax errors, e.g. {r['merror'][0]!r}")
    for pat in RAW_TEX:
        if pat in r['prose']: probs.append(f"raw TeX {pat!r} in visible text: ...{snippet(r['prose'], pat)}...")
    tex = [m.group(0) for m in TEX_OUTSIDE.finditer(r['prose'])]
    if tex:
        probs.append(f"{len(tex)} pieces of TeX outside math ({', '.join(dict.fromkeys(tex[:8]))}), e.g. "
                     f"...{snippet(r['prose'], tex[0])}...")
    if (m := INTERNAL.search(r['alltext'])):
        probs.append(f"internal wording on the page ({m.group(0)!r}): ...{snippet(r['alltext'], m.group(0))}...")
    for im in r.get('figures', []):
        if BAD_ALT.search(im['alt'] or ''): probs.append(f"figure without alt text: {im['src'][:80]} (alt={im['alt']!r})")
    for w, rw in [(r.get('width'), r)] + [(x.get('width'), x) for x in extra]:
        for o in rw.get('overflow', [])[:6]:
            probs.append(f"at {w} px a {o['what']} {o['how']}: {o['text'][:70]!r}")
        if len(rw.get('overflow', [])) > 6: probs.append(f"at {w} px {len(rw['overflow']) - 6} more blocks overflow")
        for f in rw.get('mathfit', []):
            if f['fit'] < MIN_MATH:
                probs.append(f"at {w} px {'a display' if f.get('display', True) else 'an inline'} formula is scaled to {f['fit']:.2f} of its size (at least {MIN_MATH} "
                             f"wanted): {f['tex'][:70]!r}")
        lay = rw.get('layout')
        if w and w >= WIDE and lay:
            if lay['column'] < MIN_COLUMN:
                probs.append(f"at {w} px the text column is {lay['column']} px wide (at least {MIN_COLUMN} px wanted)")
            elif lay['block'] and lay['block'] < MIN_COLUMN:
                probs.append(f"at {w} px the widest code cell, output or formula is {lay['block']} px wide, in a "
                             f"{lay['column']} px column (at least {MIN_COLUMN} px wanted)")
    for rx, what in LEAKS:
        if (m := rx.search(r['alltext'])): probs.append(f"hidden cell shows: {what}: ...{snippet(r['alltext'], m.group(0))}...")
    for im in r['images']:
        if not im['ok']: probs.append(f"image did not load: {im['src'][:120]}")
    if len(r['images']) < n_figures: probs.append(f"{len(r['images'])} images on the page, the notebook has {n_figures}")
    for u in r['resources'] + [e['name'] for e in r['loaded']]:
        if u.startswith(('http:', 'https:')) and not u.startswith(origin):
            probs.append(f'loaded from outside the site (network at view time): {u[:120]}')
    for e in r['loaded']:
        if e['status'] >= 400 and not e['name'].endswith('/favicon.ico'): probs.append(f"request failed ({e['status']}): {e['name'][:120]}")
    for u in sorted(set(r['links'] + r['resources'])):
        if not u.startswith(origin): continue
        sp = urlsplit(u)
        path = unquote(sp.path).lstrip('/')
        f = site/path
        if f.is_dir(): f, path = f/'index.html', (path.rstrip('/') + '/index.html').lstrip('/')
        if not f.is_file(): probs.append(f'broken link: {u[len(origin):]}'); continue
        if sp.fragment and f.suffix == '.html' and unquote(sp.fragment) not in page_ids(site, path, reports):
            probs.append(f'broken link: {u[len(origin):]} (no such anchor)')
    if expected_nav is not None:
        got = [unquote(urlsplit(u).path).lstrip('/') for u in r['nav']]
        got = [g for i, g in enumerate(got) if g not in got[:i]]
        if got != expected_nav: probs.append(f'sidebar order {got} is not nbdev\'s {expected_nav}')
    if api is not None:
        blocks = {b['name'] for b in r.get('api', [])}
        missing = [f'{m}.{n}' for m, ns in api.items() for n in ns if f'{m}.{n}' not in blocks]
        if missing: probs.append(f'API reference lacks {len(missing)} public names: {", ".join(missing[:12])}')
        probs += api_tables(r.get('api', []), api, lib)
    return probs

_re_next = re.compile(r'<link rel="(next|prev)"[^>]*?href="([^"#]+)"')

def reading_chain(site:Path)->list:
    """The pages the previous/next links visit from the landing page (its next, that page's next, ...), and their
    previous links: problems when the chain's order is not the order of the landing page's "Reading order" links,
    when a previous link does not point back, or when a page of the site is left out."""
    def links(rel):
        f = site/rel
        return dict((k, os.path.normpath(str(Path(rel).parent/v))) for k, v in _re_next.findall(f.read_text(errors='replace'))) if f.is_file() else {}
    idx = (site/'index.html').read_text(errors='replace')
    sec = re.search(r'<section id="reading-order">(.*?)</section>', idx, re.S)
    if not sec: return ['the landing page has no "Reading order" section']
    want = list(dict.fromkeys(h for h in re.findall(r'<a class="reference internal" href="([^"#]+\.html)[^"]*"', sec.group(1))))
    chain, probs = ['index.html'], []
    while (nxt := links(chain[-1]).get('next')) and nxt not in chain:
        if links(nxt).get('prev') != chain[-1]:
            probs.append(f'the previous link of {nxt} is {links(nxt).get("prev")}, not {chain[-1]}')
        chain.append(nxt)
    if chain[1:] != want:
        probs.append(f'the previous/next links visit {chain[1:]}, the landing page\'s reading order lists {want}')
    pages = {str(f.relative_to(site)) for f in site.rglob('*.html') if f.relative_to(site).parts[0] not in SKIP_DIRS}
    left = sorted(pages - set(chain) - {'search.html', 'genindex.html'})
    if left: probs.append(f'pages the previous/next links never reach: {", ".join(left)}')
    return probs

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('site', nargs='?', default=str(ROOT/'_docs'))
    ap.add_argument('--shots', default=str(ROOT/'_docs_check'), help='screenshot folder')
    ap.add_argument('--pages', nargs='*', help='only these pages (paths relative to the site)')
    ap.add_argument('--no-shots', action='store_true', help='probe only, no screenshots (faster)')
    ap.add_argument('--lib', default=None, help='package whose public names the API page must list')
    ap.add_argument('--returns', action='store_true', help='only list the public functions and methods that return a '
                    'value without a return docment (from the code; no site, no browser)')
    a = ap.parse_args()
    cp = ConfigParser(delimiters=['=']); cp.read(ROOT/'settings.ini', encoding='utf-8')
    lib = a.lib or cp['DEFAULT']['lib_name']
    if a.returns:
        bad = undocumented_returns(lib)
        for q, f in bad: print(f'no return docment: {q} ({f.__module__}:{f.__qualname__})')
        print(f'docs-check: {len(bad)} public functions and methods ({len({id(inspect.unwrap(f)) for _, f in bad})} '
              f'definitions) return a value without a return docment')
        return 1 if bad else 0
    site, shots = Path(a.site).resolve(), Path(a.shots).resolve()
    if not (site/'index.html').is_file(): sys.exit(f'docs-check: no site at {site} (run make docs)')
    exe, shoot = chromium(), not a.no_shots
    pages = a.pages or sorted(str(p.relative_to(site)) for p in site.rglob('*.html')
                              if not p.relative_to(site).parts[0] in SKIP_DIRS)
    if (missing := [p for p in pages if not (site/p).is_file()]): sys.exit(f'docs-check: no such pages in {site}: {missing}')
    if shoot:
        if shots.exists(): shutil.rmtree(shots)
        shots.mkdir(parents=True)
    srv, log = serve(site)
    origin = f'http://127.0.0.1:{srv.server_address[1]}/'

    def one(rel):
        url, name = origin + rel, rel.replace('/', '__').removesuffix('.html')
        (r, err), *extra = [visit(exe, url, shots if shoot else None, name, w) for w in WIDTHS]
        return rel, r, [x for x, _ in extra], err or next((e for _, e in extra if e), None)
    with ThreadPoolExecutor(max_workers=2) as ex: results = list(ex.map(one, pages))
    srv.shutdown()

    reports = {rel: r for rel, r, _, _ in results}
    nav, figures = None, {}
    if (site/'pages.json').is_file():
        meta = json.loads((site/'pages.json').read_text())
        nav = [p['page'] for p in meta] + ['api.html']
        figures = {p['page']: p.get('images', 0) for p in meta}
    n_bad = 0
    for rel, r, extra, shot_err in results:
        probs = check_page(rel, r, site, origin, reports, nav if rel == 'index.html' else None,
                           public_api(lib) if rel == 'api.html' else None, figures.get(rel, 0), extra, lib)
        if shot_err: probs.append(shot_err)
        for code, path, ref in log:
            if code >= 400 and unquote(urlsplit(ref).path).lstrip('/') == rel: probs.append(f'request failed ({code}): {path}')
        probs = list(dict.fromkeys(probs))
        if 'mathjax' in r:
            info = (f"math {r['math'] - len(r['untypeset'])}/{r['math']} typeset, {len(r['images'])} images, "
                    f"{len(r['links'])} links")
        else: info = ''
        print(f"{'ok  ' if not probs else 'FAIL'} {rel:24} {info}")
        for p in probs: print(f'     - {p}')
        n_bad += bool(probs)
    if 'api.html' not in pages and not a.pages: print('FAIL no API reference page (api.html)'); n_bad += 1
    for p in reading_chain(site): print(f'FAIL reading order: {p}'); n_bad += 1
    pages_set = {'/' + p for p in pages}
    for code, path, ref in log:  # failed requests not made by a page itself (e.g. a font a stylesheet asked for)
        if code >= 400 and unquote(urlsplit(ref).path) not in pages_set:
            print(f'FAIL request failed ({code}): {path} (asked for by {ref or "nobody"})'); n_bad += 1
    print(f'docs-check: {len(pages)} pages, {n_bad} with problems' + (f'; screenshots in {shots}' if shoot else ''))
    return 1 if n_bad else 0

if __name__ == '__main__':
    sys.exit(main())
