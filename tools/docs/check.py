"""Check the built documentation site as a reader sees it: each page in headless Chromium (playwright), at 1400 and 420 px.

    python tools/docs/check.py [SITE=_docs] [--shots _docs_check] [--pages a.html b.html] [--no-shots]
    python tools/docs/check.py --returns [--lib emtheory]   (from the code: public callables that return a value
                                                             without a return docment)

Once MathJax and the images are done, PROBE reads the page; each page is photographed at both widths (NAME.W.png, or
tiles NAME.W.1.png, ... of 12000 px). Exit 1 when a page has: math not typeset, a MathJax error, raw TeX in visible
text or any TeX outside math, code and outputs; at either width a block wider than the text column or scrolling
sideways, a prose formula scaled below 0.8 (MathJax 4 breaks long ones); at 1400 px a text column, or widest code,
output or display formula, under 1000 px; a figure not loaded, without alt text, or missing; a hidden cell showing; the
word "issue"; a broken internal link or anchor, a failed request, anything loaded from outside the site; (landing page)
a sidebar not in nbdev's order; (site) previous/next links not in the landing page's reading order or not pointing
back; (API reference) a public name (`__all__`) without its block, a re-export documented again instead of linked to
its home; a parameter not listed or not described, a returned value not described, a public method (inherited too) or
a fitted attribute (`self.name_ = ...`) of a class missing.
"""
import argparse, functools, http.server, importlib, inspect, json, os, re, shutil, sys, threading
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
from docutils.nodes import make_id

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from apidoc import public_api, reexports, assigned_attributes, returns_what, public_callables, _docs

RAW_TEX = ['$$', '\\begin{', '\\end{', '\\(', '\\[']
TEX_OUTSIDE = re.compile(r'\\[A-Za-z]+|\\[{}\[\](),;!|]|\$|[_^]\{')   # myst-nb typesets only .math: the rest stays raw
BAD_ALT = re.compile(r'^\s*$|^[0-9a-f]{16,}(\.\w+)?$|\.(png|jpe?g|svg|gif)$', re.I)
LEAKS = [(re.compile(r'#\|\s*[\w-]'), 'an nbdev directive (#| ...)'),
         (re.compile(r'from nbdev\.showdoc import'), 'the hidden `from nbdev.showdoc import` cell')]
WIDTHS, WIDE, MIN_COLUMN, MIN_MATH, TILE = (1400, 420), 1400, 1000, 0.8, 12000
SKIP_DIRS = ('_static', '_sources', '_images')

PROBE = r"""async () => {
  const visible = el => el.checkVisibility({visibilityProperty: true, opacityProperty: false});
  const all = (sel, root) => [...(root || document).querySelectorAll(sel)];
  const text = skip => { const out = [], w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); let n;
    while ((n = w.nextNode())) { const p = n.parentElement;
      if (p && n.nodeValue.trim() && !p.closest('script,style,noscript,template') && !(skip && p.closest(skip)) && visible(p)) out.push(n.nodeValue); }
    return out.join(' '); };
  let error = null;
  try { await (window.MathJax && MathJax.startup && MathJax.startup.promise); await window.emtheoryMathReady; }
  catch (e) { error = 'MathJax failed: ' + e; }
  await Promise.all(all('img').map(im => { im.loading = 'eager'; return im.complete && im.naturalWidth ? null : im.decode().catch(() => {}); }));
  await new Promise(ok => setTimeout(ok, 200));
  const col = document.querySelector('article.bd-article') || document.body, cr = col.getBoundingClientRect(), cs = getComputedStyle(col);
  const overflow = all('pre, div.highlight, div.math, mjx-container > mjx-math, table, img, div.cell_output, dl, dd, dt, p, li, td, h1, h2, h3, h4', col)
    .filter(visible).map(el => { const math = el.tagName == 'MJX-MATH', r = el.getBoundingClientRect();
      const wide = !math && el.tagName != 'IMG' && el.scrollWidth > el.clientWidth + 1, hidden = wide && /(auto|scroll|hidden)/.test(getComputedStyle(el).overflowX);
      if (!hidden && !wide && r.right <= cr.right + 1 && r.left >= cr.left - 1) return null;
      if (math) el = el.parentElement;
      return {what: el.tagName.toLowerCase() + (typeof el.className == 'string' && el.className ? '.' + el.className.split(' ')[0] : ''),
              how: hidden ? `scrolls sideways (${el.scrollWidth} px of content in ${el.clientWidth})`
                          : `spills over the text column (${Math.round(Math.max(r.width, el.scrollWidth || 0))} px, column ${Math.round(cr.width)})`,
              text: (el.textContent || el.getAttribute('src') || '').replace(/\s+/g, ' ').trim().slice(0, 90)}; }).filter(Boolean);
  let items = []; try { items = [...MathJax.startup.document.math]; } catch (e) {}
  const mathfit = items.map(it => { const c = it.typesetRoot;   /* prose formulas MathJax scaled down to fit */
    return c && c.isConnected && c.getAttribute('overflow') == 'scale' && !c.closest('.cell_output, .output') && visible(c) ?
      {fit: parseFloat(c.style.fontSize || '100') / 100 / it.metrics.scale, display: it.display, tex: it.math.replace(/\s+/g, ' ').trim().slice(0, 80)} : null; }).filter(Boolean);
  const math = all('.math');
  return {error, width: innerWidth, height: document.documentElement.scrollHeight, overflow, mathfit,
    mathjax: window.MathJax && MathJax.startup ? 'loaded' : 'not loaded', math: math.length, mjx: all('mjx-container').length,
    untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    merror: all('mjx-merror, [data-mjx-error]').map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120)),
    prose: text('pre, code, kbd, samp, .highlight, mjx-container, mjx-assistive-mml, .cell_output, .output, .sig'), alltext: text(null),
    layout: {column: Math.round(col.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)),
             block: Math.round(Math.max(0, ...all('div.cell, div.highlight, div.cell_output, div.math', col).filter(visible).map(e => e.getBoundingClientRect().width)))},
    images: all('img').map(im => ({src: im.currentSrc || im.src, ok: im.complete && im.naturalWidth > 0})),
    figures: all('article img').map(im => ({src: (im.currentSrc || im.src).split('/').pop(), alt: im.getAttribute('alt')})),
    links: all('a[href]').map(a => a.href), ids: all('[id]').map(e => e.id),
    nav: all('nav.bd-docs-nav a.reference').map(a => a.href),
    api: all('dl.py > dt.sig[id]').map(dt => ({id: dt.id, kind: dt.parentElement.classList[1], fields: Object.fromEntries(
      all(':scope > dd > dl.field-list > dt', dt.parentElement).map(t => [t.textContent.replace(/:\s*$/, '').trim(),
        all(':scope > ul > li > p, :scope > p', t.nextElementSibling).map(p => { const s = p.querySelector(':scope > strong');
          return {key: s ? s.textContent.replace(/^\*+/, '') : '', doc: s ? p.textContent.split('–').slice(1).join('–').trim() : p.textContent.trim()}; })]))})),
    reexports: all('p.api-reexports a').map(a => [a.closest('section').id, a.getAttribute('href'), a.textContent])};
}"""

def serve(site:Path):
    "A quiet static server of the site on a free port."
    class H(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(H, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

def tiles(height:int)->list:
    "(top, height) of the tiles that cover a page `height` px high: TILE px each, the last one overlapping the one before."
    return [(0, max(height, 600))] if height <= TILE else [(min(top, height - TILE), TILE) for top in range(0, height, TILE)]

def visit(exe:str, origin:str, rel:str, shots:Path|None)->list:
    """The probe's report at each width, with the requests that failed or left the site; with `shots`, the whole page
    photographed (sticky bars made to scroll, the viewport one tile high). Tried twice when the browser dies."""
    from playwright.sync_api import sync_playwright, Error
    for attempt in range(2):
        out = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars'])
            try:
                for w in WIDTHS:
                    page, bad = browser.new_page(viewport={'width': w, 'height': 1800}), []
                    page.on('response', lambda r, bad=bad: r.status >= 400 and not r.url.endswith('/favicon.ico') and
                            bad.append(f'request failed ({r.status}): {r.url[len(origin):]}'))
                    page.on('request', lambda r, bad=bad: r.url.startswith('http') and not r.url.startswith(origin) and
                            bad.append(f'loaded from outside the site (network at view time): {r.url[:120]}'))
                    page.goto(origin + rel)
                    r = page.evaluate(PROBE) | {'bad': bad}
                    if shots is not None:
                        page.evaluate("document.querySelectorAll('body *').forEach(e => getComputedStyle(e).position == 'sticky' && e.style.setProperty('position', 'relative', 'important'))")
                        page.set_viewport_size({'width': w, 'height': tiles(page.evaluate('document.documentElement.scrollHeight'))[0][1]})
                        page.wait_for_timeout(600)
                        ts = tiles(page.evaluate('document.documentElement.scrollHeight'))
                        for k, (top, _) in enumerate(ts, 1):
                            page.evaluate(f"window.scrollTo({{top: {top}, left: 0, behavior: 'instant'}})"); page.wait_for_timeout(50)
                            name = rel.replace('/', '__')[:-5] + f'.{w}' + (f'.{k}' if len(ts) > 1 else '')
                            page.screenshot(path=shots/f'{name}.png')
                    out.append(r)
                return out
            except (Error, OSError, ValueError) as e:
                if attempt: return out + [{'error': f'the page did not finish loading at {w} px ({e})'}]
            finally: browser.close()

def api_problems(r:dict, lib:str)->list:
    "The API reference against the code: blocks, re-exports, parameters, returns, methods and fitted attributes."
    api = public_api(lib); again, probs = reexports(api), []
    blocks, classes = {b['id']: b for b in r['api']}, {q for q, f in public_callables(api, lib) if inspect.isclass(f)}
    missing = [q for m, ns in api.items() for n in ns if (q := f'{m}.{n}') not in blocks and q not in again]
    if missing: probs.append(f'API reference lacks {len(missing)} public names: {", ".join(missing[:12])}')
    for q, h in again.items():
        m, n = q.rsplit('.', 1)
        got = [href for sec, href, t in r['reexports'] if sec == make_id(m) and t == n]
        if q in blocks: probs.append(f'API reference documents {h} twice: {q} re-exports it (it should only link to it)')
        elif got != ['#' + h]: probs.append(f'API reference: the re-export {q} points to {got[0][1:] if got else None!r}, not to {h}')
    for q, f in public_callables(api, lib):
        if q in again or (up := q.rsplit('.', 1)[0]) in again: continue
        if up in classes and up in blocks and q not in blocks: probs.append(f'API reference: {up} does not list its method {q.rsplit(".", 1)[1]}')
        if (b := blocks.get(q)) is None: continue
        fl = lambda label: {p['key']: p['doc'] for p in b['fields'].get(label, [])}
        if inspect.isclass(f):
            attrs, got = assigned_attributes(f, lib), fl('Attributes')
            if (miss := sorted(a for a in attrs if not got.get(a))): probs.append(f'API reference: {q} lacks the description of its attributes {", ".join(miss)}')
        try: want = [p.replace('*', '') for p in inspect.signature(f).parameters if p not in ('self', 'cls')]
        except (TypeError, ValueError): continue
        got = fl('Parameters')
        if (miss := [p for p in want if p not in got]): probs.append(f'API reference: {q} does not list the parameters {", ".join(miss)}')
        if (nodoc := [p for p in want if p in got and not got[p]]):
            probs.append(f'API reference: {q} does not describe its parameters {", ".join(nodoc)} (no docment)')
        if not inspect.isclass(f) and returns_what(f) and not ''.join(p['doc'] for p in b['fields'].get('Returns', [])):
            probs.append(f'API reference: {q} does not describe what it returns (no return docment)')
    return probs

def page_problems(rel:str, rs:list, site:Path, origin:str, ids:dict, nav:list|None, n_figures:int, lib:str)->list:
    "The problems of one page from its reports (one per width)."
    r, probs = rs[0], [x['error'] for x in rs if x.get('error')]
    if 'math' not in r: return probs
    if r['math'] and (not r['mjx'] or r['untypeset']):
        probs.append(f"math not typeset: {len(r['untypeset'])} of {r['math']} math elements, e.g. {r['untypeset'][:1]} (MathJax {r['mathjax']})")
    probs += [f"{len(r['merror'])} MathJax errors, e.g. {e!r}" for e in r['merror'][:1]]
    snip = lambda t, p: ' '.join(t[max(0, t.find(p) - 40):t.find(p) + 60].split())
    probs += [f"raw TeX {p!r} in visible text: ...{snip(r['prose'], p)}..." for p in RAW_TEX if p in r['prose']]
    if (tex := [m.group(0) for m in TEX_OUTSIDE.finditer(r['prose'])]):
        probs.append(f"{len(tex)} pieces of TeX outside math ({', '.join(dict.fromkeys(tex[:8]))}), e.g. ...{snip(r['prose'], tex[0])}...")
    if (m := re.search(r'\bissues?\b', r['alltext'], re.I)): probs.append(f"internal wording on the page ({m.group(0)!r}): ...{snip(r['alltext'], m.group(0))}...")
    probs += [f"figure without alt text: {im['src'][:80]} (alt={im['alt']!r})" for im in r['figures'] if BAD_ALT.search(im['alt'] or '')]
    for x in rs:
        w = x.get('width')
        probs += [f"at {w} px a {o['what']} {o['how']}: {o['text'][:70]!r}" for o in x.get('overflow', [])[:6]]
        probs += [f"at {w} px {len(x['overflow']) - 6} more blocks overflow"] * (len(x.get('overflow', [])) > 6)
        probs += [f"at {w} px {'a display' if f['display'] else 'an inline'} formula is scaled to {f['fit']:.2f} of its size (at least "
                  f"{MIN_MATH} wanted): {f['tex'][:70]!r}" for f in x.get('mathfit', []) if f['fit'] < MIN_MATH]
        lay = x.get('layout') or {}
        if w == WIDE and lay.get('column', MIN_COLUMN) < MIN_COLUMN: probs.append(f"at {w} px the text column is {lay['column']} px wide (at least {MIN_COLUMN} px wanted)")
        elif w == WIDE and 0 < lay.get('block', 0) < MIN_COLUMN:
            probs.append(f"at {w} px the widest code cell, output or formula is {lay['block']} px wide, in a {lay['column']} px column (at least {MIN_COLUMN} px wanted)")
        probs += x.get('bad', [])
    probs += [f"hidden cell shows: {what}: ...{snip(r['alltext'], m.group(0))}..." for rx, what in LEAKS if (m := rx.search(r['alltext']))]
    probs += [f"image did not load: {im['src'][:120]}" for im in r['images'] if not im['ok']]
    probs += [f"{len(r['images'])} images on the page, the notebook has {n_figures}"] * (len(r['images']) < n_figures)
    for u in sorted(set(r['links'])):
        if not u.startswith(origin): continue
        sp = urlsplit(u); path = unquote(sp.path).lstrip('/') or 'index.html'
        path += 'index.html' if path.endswith('/') else ''
        if not (site/path).is_file(): probs.append(f'broken link: {u[len(origin):]}')
        elif sp.fragment and path.endswith('.html') and unquote(sp.fragment) not in ids.get(path, set()):
            probs.append(f'broken link: {u[len(origin):]} (no such anchor)')
    if nav is not None and (got := list(dict.fromkeys(unquote(urlsplit(u).path).lstrip('/') for u in r['nav']))) != nav:
        probs.append(f"sidebar order {got} is not nbdev's {nav}")
    return probs + (api_problems(r, lib) if rel == 'api.html' else [])

def reading_chain(site:Path)->list:
    """Problems of the previous/next links followed from the landing page: an order other than the landing page's
    "Reading order" links, a previous link that does not point back, a page left out."""
    def links(rel):
        f = site/rel
        return {k: os.path.normpath(str(Path(rel).parent/v)) for k, v in re.findall(r'<link rel="(next|prev)"[^>]*?href="([^"#]+)"',
                f.read_text(errors='replace'))} if f.is_file() else {}
    sec = re.search(r'<section id="reading-order">(.*?)</section>', (site/'index.html').read_text(errors='replace'), re.S)
    if not sec: return ['the landing page has no "Reading order" section']
    want = list(dict.fromkeys(re.findall(r'<a class="reference internal" href="([^"#]+\.html)[^"]*"', sec.group(1))))
    chain, probs = ['index.html'], []
    while (nxt := links(chain[-1]).get('next')) and nxt not in chain:
        if links(nxt).get('prev') != chain[-1]: probs.append(f'the previous link of {nxt} is {links(nxt).get("prev")}, not {chain[-1]}')
        chain.append(nxt)
    if chain[1:] != want: probs.append(f"the previous/next links visit {chain[1:]}, the landing page's reading order lists {want}")
    pages = {str(f.relative_to(site)) for f in site.rglob('*.html') if f.relative_to(site).parts[0] not in SKIP_DIRS}
    if (left := sorted(pages - set(chain) - {'search.html', 'genindex.html'})): probs.append(f'pages the previous/next links never reach: {", ".join(left)}')
    return probs

def undocumented_returns(lib:str)->list:
    "[(public name, function)] of the public functions and methods that return a value (not self) without a return docment."
    return [(q, f) for q, f in public_callables(public_api(lib), lib)
            if not inspect.isclass(f) and returns_what(f) == 'value' and not _docs(f).get('return')]

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('site', nargs='?', default=str(ROOT/'_docs'))
    ap.add_argument('--shots', default=str(ROOT/'_docs_check'), help='screenshot folder')
    ap.add_argument('--pages', nargs='*', help='only these pages (paths relative to the site)')
    ap.add_argument('--no-shots', action='store_true', help='probe only, no screenshots (faster)')
    ap.add_argument('--lib', default=None, help='the package (default: settings.ini lib_name)')
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
    exe = next((c for c in ('/usr/bin/chromium', shutil.which('chromium') or '') if c and os.access(c, os.X_OK)), None)
    if exe is None: sys.exit('docs-check: chromium is not installed (tools/docs/check.sh installs it: apt-get install -y chromium)')
    pages = a.pages or sorted(str(p.relative_to(site)) for p in site.rglob('*.html') if p.relative_to(site).parts[0] not in SKIP_DIRS)
    if (missing := [p for p in pages if not (site/p).is_file()]): sys.exit(f'docs-check: no such pages in {site}: {missing}')
    if not a.no_shots: shutil.rmtree(shots, ignore_errors=True); shots.mkdir(parents=True)
    srv = serve(site); origin = f'http://127.0.0.1:{srv.server_address[1]}/'
    with ThreadPoolExecutor(max_workers=2) as ex:
        reports = dict(zip(pages, ex.map(lambda p: visit(exe, origin, p, None if a.no_shots else shots), pages)))
    srv.shutdown()
    ids = {p: set(rs[0].get('ids', [])) for p, rs in reports.items()}
    ids |= {str(f.relative_to(site)): set(re.findall(r'\bid="([^"]+)"', f.read_text(errors='replace')))
            for f in site.rglob('*.html') if str(f.relative_to(site)) not in ids}
    meta = json.loads((site/'pages.json').read_text()) if (site/'pages.json').is_file() else []
    nav, figures = [p['page'] for p in meta] + ['api.html'], {p['page']: p['images'] for p in meta}
    n_bad = 0
    for rel, rs in reports.items():
        probs = list(dict.fromkeys(page_problems(rel, rs, site, origin, ids, nav if rel == 'index.html' and meta else None, figures.get(rel, 0), lib)))
        print(f"{'ok  ' if not probs else 'FAIL'} {rel:24} " + (f"math {rs[0]['math'] - len(rs[0]['untypeset'])}/{rs[0]['math']} typeset, "
              f"{len(rs[0]['images'])} images, {len(rs[0]['links'])} links" if 'math' in rs[0] else ''))
        for p in probs: print(f'     - {p}')
        n_bad += bool(probs)
    if 'api.html' not in pages and not a.pages: print('FAIL no API reference page (api.html)'); n_bad += 1
    for p in reading_chain(site): print(f'FAIL reading order: {p}'); n_bad += 1
    print(f'docs-check: {len(pages)} pages, {n_bad} with problems' + ('' if a.no_shots else f'; screenshots in {shots}'))
    return 1 if n_bad else 0

if __name__ == '__main__':
    sys.exit(main())
