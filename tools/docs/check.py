"""Check the built documentation site the way a reader sees it: every page in headless Chromium.

    python tools/docs/check.py [SITE=_docs] [--shots _docs_check] [--pages a.html b.html]

The site is served on 127.0.0.1 (a free port) by a small server that adds one probe script to each HTML page. After
the page's scripts ran (`--virtual-time-budget`) the probe waits for MathJax's typesetting and the images, and writes
what it found into the DOM, which `--dump-dom` returns. Per page it checks:
  - math: every Sphinx math element holds a typeset `mjx-container`, and there is no MathJax error (`mjx-merror`);
  - no raw TeX (`$$`, `\\begin{`, `\\end{`, `\\(`, `\\[`) in the visible text outside code;
  - every image loaded (naturalWidth > 0), every internal link and fragment resolves, no request failed (404),
    nothing was loaded from outside the site (no CDN);
  - no hidden cell shows (`#|` directives, `from nbdev.showdoc import`);
  - the landing page's sidebar lists the pages in nbdev's order (pages.json written by the build);
  - the API reference has a heading for every public name of the package (each module's `__all__`).
It saves two screenshots of each page into the shots folder (NAME.png: the first screen, 1280x1800; NAME.full.png:
the whole page), and exits 1 when any check fails.
"""
import argparse, html, http.server, importlib, json, os, pkgutil, re, shutil, subprocess, sys, tempfile, threading
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--hide-scrollbars', '--virtual-time-budget=20000']
RAW_TEX = ['$$', '\\begin{', '\\end{', '\\(', '\\[']
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
      prose: text('pre, code, kbd, samp, .highlight, mjx-container, mjx-assistive-mml'),
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
      nav: [].map.call(document.querySelectorAll('nav.bd-docs-nav a.reference'), function(a){ return a.href; })
    };
    var pre = document.createElement('pre');
    pre.id = '__docs_check__'; pre.style.display = 'none';
    pre.textContent = JSON.stringify(r);
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function(){
    setTimeout(function(){
      var mj = (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) || Promise.resolve();
      Promise.all([mj, images()]).then(function(){ setTimeout(function(){ report(null); }, 200); },
                                       function(e){ report('MathJax failed: ' + e); });
    }, 100);
  });
})();
</script>"""

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

def run_chromium(exe:str, args:list, height:int=1800, timeout=120)->subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix='docs-check-chromium-') as prof:
        return subprocess.run([exe, *FLAGS, f'--window-size=1280,{height}', f'--user-data-dir={prof}', *args],
                              capture_output=True, text=True, timeout=timeout)

def probe(exe:str, url:str)->dict:
    try: r = run_chromium(exe, ['--dump-dom', url])
    except subprocess.TimeoutExpired: return {'error': 'chromium timed out'}
    m = re.search(r'<pre id="__docs_check__"[^>]*>(.*?)</pre>', r.stdout, re.S)
    if not m: return {'error': f'the page did not finish loading (no probe report; chromium exit {r.returncode})'}
    return json.loads(html.unescape(m.group(1)))

def screenshot(exe:str, url:str, out:Path, height:int|None=None)->str|None:
    "The first screen (1280x1800), or with `height` the whole page in one tall window."
    h = min(max(height, 600), 30000) if height else 1800
    try: r = run_chromium(exe, [f'--screenshot={out}', url], height=h)
    except subprocess.TimeoutExpired: return 'screenshot: chromium timed out'
    if not out.exists() or out.stat().st_size < 1000: return f'screenshot failed (chromium exit {r.returncode})'

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

def page_ids(site:Path, rel:str, reports:dict)->set:
    if rel in reports and 'ids' in reports[rel]: return set(reports[rel]['ids'])
    txt = (site/rel).read_text(errors='replace')
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', txt))

def snippet(text:str, pat:str)->str:
    i = text.find(pat)
    return ' '.join(text[max(0, i-40):i+60].split())

def check_page(rel:str, r:dict, site:Path, origin:str, reports:dict, expected_nav:list|None, api:dict|None,
               n_figures:int=0)->list:
    if r.get('error') and 'mathjax' not in r: return [r['error']]
    probs = []
    if r.get('error'): probs.append(r['error'])
    if r['math']:
        if not r['mjx']: probs.append(f"math not typeset: {r['math']} math elements, no mjx-container (MathJax {r['mathjax']})")
        elif r['untypeset']: probs.append(f"{len(r['untypeset'])} of {r['math']} math elements not typeset, e.g. {r['untypeset'][0]!r}")
    if r['merror']: probs.append(f"{len(r['merror'])} MathJax errors, e.g. {r['merror'][0]!r}")
    for pat in RAW_TEX:
        if pat in r['prose']: probs.append(f"raw TeX {pat!r} in visible text: ...{snippet(r['prose'], pat)}...")
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
        heads = {h['text'] for h in r['headings']}
        missing = [f'{m}.{n}' for m, ns in api.items() for n in ns if n not in heads]
        missing += [m for m in api if m not in heads]
        if missing: probs.append(f'API reference lacks {len(missing)} public names: {", ".join(missing[:12])}')
    return probs

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('site', nargs='?', default=str(ROOT/'_docs'))
    ap.add_argument('--shots', default=str(ROOT/'_docs_check'), help='screenshot folder')
    ap.add_argument('--pages', nargs='*', help='only these pages (paths relative to the site)')
    ap.add_argument('--lib', default=None, help='package whose public names the API page must list')
    a = ap.parse_args()
    site, shots = Path(a.site).resolve(), Path(a.shots).resolve()
    if not (site/'index.html').is_file(): sys.exit(f'docs-check: no site at {site} (run make docs)')
    exe = chromium()
    pages = a.pages or sorted(str(p.relative_to(site)) for p in site.rglob('*.html')
                              if not p.relative_to(site).parts[0] in SKIP_DIRS)
    if (missing := [p for p in pages if not (site/p).is_file()]): sys.exit(f'docs-check: no such pages in {site}: {missing}')
    if shots.exists(): shutil.rmtree(shots)
    shots.mkdir(parents=True)
    cp = ConfigParser(delimiters=['=']); cp.read(ROOT/'settings.ini', encoding='utf-8')
    lib = a.lib or cp['DEFAULT']['lib_name']
    srv, log = serve(site)
    origin = f'http://127.0.0.1:{srv.server_address[1]}/'

    def one(rel):
        url, name = origin + rel, rel.replace('/', '__').removesuffix('.html')
        r = probe(exe, url)
        err = screenshot(exe, url, shots/f'{name}.png')
        if not err and r.get('height'): err = screenshot(exe, url, shots/f'{name}.full.png', r['height'])
        return rel, r, err
    with ThreadPoolExecutor(max_workers=2) as ex: results = list(ex.map(one, pages))
    srv.shutdown()

    reports = {rel: r for rel, r, _ in results}
    nav, figures = None, {}
    if (site/'pages.json').is_file():
        meta = json.loads((site/'pages.json').read_text())
        nav = [p['page'] for p in meta] + ['api.html']
        figures = {p['page']: p.get('images', 0) for p in meta}
    n_bad = 0
    for rel, r, shot_err in results:
        probs = check_page(rel, r, site, origin, reports, nav if rel == 'index.html' else None,
                           public_api(lib) if rel == 'api.html' else None, figures.get(rel, 0))
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
    pages_set = {'/' + p for p in pages}
    for code, path, ref in log:  # failed requests not made by a page itself (e.g. a font a stylesheet asked for)
        if code >= 400 and unquote(urlsplit(ref).path) not in pages_set:
            print(f'FAIL request failed ({code}): {path} (asked for by {ref or "nobody"})'); n_bad += 1
    print(f'docs-check: {len(pages)} pages, {n_bad} with problems; screenshots in {shots}')
    return 1 if n_bad else 0

if __name__ == '__main__':
    sys.exit(main())
