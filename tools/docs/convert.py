"""Turn nbdev's processed notebooks (_proc/) into a Sphinx + myst-nb source tree, in nbdev's sidebar order.

    python tools/docs/convert.py SRC_DIR

- Pages keep nbdev's names: the `output-file` nbdev puts in each front matter (`11_core.ipynb` -> `core.html`).
- Navigation comes from nbdev's generated nbs/sidebar.yml (the notebooks' file order), the one list of the reading
  order: the landing page (index) first, then one sidebar section per leading digit of the notebook names (0 theory,
  1 methods, 2 comparison, 3 command line), then the API reference. The same list numbers the chapters' titles, orders
  the previous/next links (Sphinx follows the toctree) and replaces `<!-- reading order -->` in the landing notebook
  with the numbered, linked chapters.
- Quarto cell options become myst-nb tags: `echo: false` -> remove-input, `output: false` -> remove-output,
  `include: false` drops the cell; `output: asis` (show_doc) outputs become markdown cells, so that their headings
  and anchors join the page.
- nbdev's links to the published site (doc_host/doc_baseurl) and links to `page.html` / `NN_page.ipynb` become links
  to the local source documents, so that Sphinx resolves (and, under -W, checks) them.
"""
import json, os, re, shutil, sys
from configparser import ConfigParser
from pathlib import Path
import nbformat, yaml
from mdit_py_plugins.anchors.index import slugify

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {'0': 'Theory', '1': 'Methods', '2': 'Comparison', '3': 'Command line'}
ASSET_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}

def settings():
    cp = ConfigParser(delimiters=['=']); cp.read(ROOT/'settings.ini', encoding='utf-8')
    return cp['DEFAULT']

def nbdev_page(nb_rel:Path)->Path:
    "nbdev's page name for a notebook: numeric prefix dropped, lower case (nbdev.doclinks._nbpath2html)."
    return nb_rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb_rel.name.lower())).with_suffix('')

# ---- sidebar -----------------------------------------------------------------------------------------------------
def sidebar_entries(sidebar_yml:Path)->list:
    "[(section or None, path relative to nbs)] in nbdev's sidebar order."
    d = yaml.safe_load(sidebar_yml.read_text())
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            elif isinstance(it, dict):
                if 'href' in it: out.append((it.get('section'), it['href']))
                walk(it.get('contents', []), it.get('section', section))
    walk(d['website']['sidebar']['contents'], None)
    return out

def caption_for(section, rel:str)->str|None:
    name = Path(rel).name
    if section: return section
    if Path(rel).stem == 'index': return None
    m = re.match(r'^(\d)', name)
    return SECTIONS.get(m.group(1), 'Chapters') if m else 'Notes'

# ---- markdown rewriting --------------------------------------------------------------------------------------------
_re_link = re.compile(r'(!?\[(?:[^\[\]]|\[[^\]]*\])*\])\(([^()\s]+)((?:\s+"[^"]*")?)\)')
_re_attrs = re.compile(r'(\]\([^()\s]*(?:\s+"[^"]*")?\))\{[^{}\n]*\}')

class Linker:
    "Rewrites links in markdown: published-site and page.html links -> local source documents."
    def __init__(self, doc_url:str, pages:dict):
        self.doc_url, self.pages = doc_url.rstrip('/') + '/', pages  # pages: any known name -> dest doc (Path, no suffix)

    def target(self, url:str, cur_doc:Path)->str:
        if url.startswith(self.doc_url): url = url[len(self.doc_url):] or 'index.html'
        if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', url): return url  # external (https:, mailto:, ...)
        path, _, frag = url.partition('#')
        if not path: return '#' + slugify(frag) if frag else url
        doc = self.pages.get(path) or self.pages.get(Path(path).name if '/' not in path else path)
        if doc is None: return url  # an asset or unknown file: Sphinx reports it if it is missing
        rel = os.path.relpath(doc['src'], cur_doc.parent if str(cur_doc.parent) != '.' else '.')
        return rel + ('#' + slugify(frag) if frag else '')

    def __call__(self, md:str, cur_doc:Path)->str:
        md = _re_attrs.sub(r'\1', md)  # pandoc/Quarto link attributes ({target="_blank" ...}) are not MyST
        return _re_link.sub(lambda m: f'{m.group(1)}({self.target(m.group(2), cur_doc)}{m.group(3)})', md)

_re_code = re.compile(r'^(?P<f>`{3,}|~{3,}).*?^(?P=f)[ \t]*$|(?P<b>`+)(?:[^`\n]|\n(?![ \t]*\n))+?(?P=b)', re.S | re.M)
_re_dmath = re.compile(r'\$\$(.+?)\$\$', re.S)
_re_imath = re.compile(r'(?<![\\$])\$(?!\$)((?:[^$\\]|\\.)+?)(?<!\\)\$(?!\$)', re.S)

def join_display_math(md:str)->str:
    """Put each multi-line formula (`$$...$$`, and inline `$...$` spread over lines) on one line, as pandoc (Quarto)
    reads it: under CommonMark a continuation line that starts with `- `, `+ `, `1. ` or `#` would otherwise start a
    list or a heading inside the formula, and the rest of it would show as raw TeX. Code is left alone, and so is
    math with a `%` comment (joining would comment out the rest)."""
    def fix(m, delim):
        body = m.group(1)
        if '\n' not in body or re.search(r'(?<!\\)%', body): return m.group(0)
        return delim + re.sub(r'[ \t]*\n[ \t]*', ' ', body.strip()) + delim
    def both(t):
        parts = re.split(r'(\$\$.+?\$\$)', t, flags=re.S)
        return ''.join(fix(_re_dmath.match(p), '$$') if p.startswith('$$') and _re_dmath.fullmatch(p)
                       else _re_imath.sub(lambda m: fix(m, '$'), p) for p in parts)
    out, last = [], 0
    for c in _re_code.finditer(md):
        out += [both(md[last:c.start()]), c.group(0)]; last = c.end()
    return ''.join(out + [both(md[last:])])

def clean_show_doc(md:str)->str:
    "show_doc's Quarto markdown -> MyST: no rules around it and no source link (used for names apiref cannot find)."
    lines = md.strip().split('\n')
    while lines and lines[0].strip() in ('---', ''): lines.pop(0)
    while lines and lines[-1].strip() in ('---', ''): lines.pop()
    lines = [l for l in lines if not l.startswith('[source](')]
    return '\n'.join(lines).strip()   # no source link: the repository it would point to is not published

# ---- cells ---------------------------------------------------------------------------------------------------------
_re_dir = re.compile(r'^\s*#\s*\|\s?(.*)$')

def directives(src:str):
    "nbdev/Quarto cell options at the top of a code cell -> (dict, source without them)."
    lines, opts = src.split('\n'), {}
    i = 0
    while i < len(lines) and (m := _re_dir.match(lines[i])):
        k, _, v = m.group(1).strip().partition(':') if ':' in m.group(1) else m.group(1).strip().partition(' ')
        opts[k.strip().lower()] = v.strip().lower()
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')

def is_false(v): return v in ('false', 'no', '0')

def md_outputs(cell)->list:
    return [o['data']['text/markdown'] for o in cell.get('outputs', [])
            if o.get('output_type') in ('execute_result', 'display_data') and 'text/markdown' in o.get('data', {})]

_re_show_doc = re.compile(r'^show_doc\(\s*([A-Za-z_][\w.]*)\s*\)$')
_re_md_h = re.compile(r'^(#{1,6})\s', re.M)

def show_doc_block(src:str, mds:list, ctx:dict)->str|None:
    "The package's own renderer (tools/docs/apiref.py) for a `show_doc(name)` cell, or None to keep nbdev's markdown."
    m = _re_show_doc.match(src.strip())
    if not m or not ctx.get('lib'): return None
    import apiref
    level = len(_re_md_h.search(mds[0]).group(1)) if mds and _re_md_h.search(mds[0]) else 3
    return apiref.chapter_block(m.group(1), ctx['lib'], ctx.get('module'), level, slugify(m.group(1)))

def _def_line(src:str, ctx:dict):
    "Where the name a show_doc cell documents is defined (file, line), to restore the definition order."
    m = _re_show_doc.match(src.strip())
    if not m or not ctx.get('lib'): return None
    import apiref, inspect
    obj, _ = apiref.resolve(m.group(1), ctx['lib'], ctx.get('module'))
    try: return (inspect.getsourcefile(obj), inspect.getsourcelines(obj)[1])
    except (TypeError, OSError): return None

def reorder_show_docs(cells:list, ctx:dict)->list:
    """nbdev inserts the show_doc cells of one export cell in reverse order: put each run of consecutive show_doc cells
    back into the order in which the names are defined (when all of them are found in one file)."""
    out, i = [], 0
    is_sd = lambda c: c.cell_type == 'code' and bool(_re_show_doc.match(directives(c.source)[1].strip()))
    while i < len(cells):
        j = i
        while j < len(cells) and is_sd(cells[j]): j += 1
        if j == i: out.append(cells[i]); i += 1; continue
        run = cells[i:j]
        keys = [_def_line(directives(c.source)[1], ctx) for c in run]
        if len(run) > 1 and all(keys) and len({k[0] for k in keys}) == 1:
            run = [c for _, c in sorted(zip(keys, run), key=lambda t: t[0][1])]
        out += run; i = j
    return out

def _plain(md:str)->str:
    "A caption as plain text (for an image's alt text): emphasis, links and TeX markup dropped."
    t = re.sub(r'^\*?\s*Figure:\s*', '', md.strip().split('\n\n')[0].strip(), flags=re.I)
    t = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', t)
    t = re.sub(r'\\(?:mathcal|mathrm|mathbb|text|operatorname|bm|boldsymbol)\s*', '', t)
    t = re.sub(r'\\t?frac\s*\{?([^{}\s])\}?\{?([^{}\s])\}?', r'\1/\2', t)
    greek = {'theta': 'θ', 'mu': 'μ', 'sigma': 'σ', 'Sigma': 'Σ', 'pi': 'π', 'alpha': 'α', 'beta': 'β',
             'lambda': 'λ', 'Lambda': 'Λ', 'tau': 'τ', 'nu': 'ν', 'kappa': 'κ', 'ell': 'ℓ', 'phi': 'φ', 'psi': 'ψ',
             'Psi': 'Ψ', 'le': '≤', 'ge': '≥', 'to': '→', 'mid': '|', 'cdot': '·', 'times': '×', 'approx': '≈',
             'sum': 'Σ', 'infty': '∞', 'langle': '⟨', 'rangle': '⟩', 'quad': ' ', 'qquad': ' '}
    t = re.sub(r'\\([A-Za-z]+)', lambda m: greek.get(m.group(1), m.group(1)), t)
    t = re.sub(r'\\.', '', t)
    t = t.replace('$', '').replace('{', '').replace('}', '').replace('*', '').replace('`', '')
    return ' '.join(t.split()).rstrip('.') + '.'

def add_alt_text(cells:list)->None:
    "Images in outputs get the caption of the markdown cell right below them as alt text (myst-nb's image options)."
    for i, c in enumerate(cells):
        if c.cell_type != 'code' or not any(m in o.get('data', {}) for o in c.get('outputs', []) for m in IMG_MIMES):
            continue
        nxt = next((d for d in cells[i+1:i+2] if d.cell_type == 'markdown'), None)
        if nxt is None: continue
        c.metadata.setdefault('mystnb', {}).setdefault('image', {})['alt'] = _plain(nxt.source)

def convert_nb(nb, cur_doc:Path, linker:Linker, title_fallback:str, ctx:dict|None=None):
    "ctx: lib (the package), module (the notebook's default_exp), number (the chapter's number, or None)."
    ctx = ctx or {}
    cells, title, desc = [], None, None
    for cell in reorder_show_docs(nb.cells, ctx):
        if cell.cell_type == 'raw':
            if cell.source.lstrip().startswith('---') and title is None:
                fm = yaml.safe_load(cell.source.strip().strip('-')) or {}
                title, desc = fm.get('title'), fm.get('description')
            continue  # other raw cells are Quarto-only
        if cell.cell_type == 'markdown':
            if cell.source.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cell.source = join_display_math(linker(cell.source, cur_doc))
            cells.append(cell); continue
        opts, src = directives(cell.source)
        if 'hide' in opts or is_false(opts.get('include', '')): continue
        cell.source = src
        tags = list(cell.metadata.get('tags', []))
        if is_false(opts.get('echo', '')): tags.append('remove-input')
        if is_false(opts.get('output', '')): tags.append('remove-output')
        if opts.get('output') == 'asis':
            mds = md_outputs(cell)
            if 'remove-input' not in tags and src.strip():
                cell.outputs = []; tags.append('remove-output')
                cell.metadata['tags'] = tags; cells.append(cell)
            block = show_doc_block(src, mds, ctx)
            if block is not None: cells.append(nbformat.v4.new_markdown_cell(block)); continue
            for md in mds: cells.append(nbformat.v4.new_markdown_cell(linker(clean_show_doc(md), cur_doc)))
            continue
        for o in cell.get('outputs', []):
            d = o.get('data', {})
            if 'text/markdown' in d: d['text/markdown'] = linker(d['text/markdown'], cur_doc)
        if not src.strip() and not cell.get('outputs'): continue
        if 'remove-input' in tags and 'remove-output' in tags: continue
        if 'remove-input' in tags and not cell.get('outputs'): continue
        if tags: cell.metadata['tags'] = list(dict.fromkeys(tags))
        cells.append(cell)
    add_alt_text(cells)
    title = title or title_fallback
    if ctx.get('number') is not None: title = f"{ctx['number']}. {title}"
    head = f'# {title}'
    if desc: head += f'\n\n{{.lead}}\n{linker(str(desc), cur_doc)}'
    nb.cells = [nbformat.v4.new_markdown_cell(head)] + cells
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.metadata['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    return nb

IMG_MIMES = ('image/png', 'image/jpeg', 'image/gif', 'image/svg+xml')
_re_md_img = re.compile(r'!\[[^\]]*\]\(|<img\b')

def n_images(nb)->int:
    "Figures the rendered page must show: image outputs of cells whose output is kept, and markdown images."
    n = 0
    for c in nb.cells:
        if c.cell_type == 'markdown': n += len(_re_md_img.findall(c.source))
        elif c.cell_type == 'code' and not {'remove-output', 'remove-cell'} & set(c.metadata.get('tags', [])):
            n += sum(any(m in o.get('data', {}) for m in IMG_MIMES) for o in c.get('outputs', []))
    return n

def default_exp(nb_path:Path, lib:str)->str|None:
    "The module a notebook exports to (its `#| default_exp` cell), as an importable name."
    if not nb_path.is_file(): return None
    for c in nbformat.read(nb_path, as_version=4).cells:
        if c.cell_type == 'code' and (m := re.search(r'^#\|\s*default_exp\s+(\S+)', c.source, re.M)):
            return None if m.group(1).startswith('_') else f'{lib}.{m.group(1)}'
    return None

READING_ORDER = '<!-- reading order -->'   # in the landing notebook: replaced by the chapters, from nbs/sidebar.yml

def front_title(nb)->str|None:
    "The title in a processed notebook's front matter."
    c = next((c for c in nb.cells if c.cell_type == 'raw' and c.source.lstrip().startswith('---')), None)
    return (yaml.safe_load(c.source.strip().strip('-')) or {}).get('title') if c else None

def reading_order(plan:list, titles:dict)->str:
    "The landing page's reading order: per sidebar section, the numbered chapters, each a link to its page."
    out, number, last = [], 0, object()
    for cap, _, i in plan:
        if i['doc'] == Path('index'): continue
        number += 1
        if cap != last: out.append(f'\n**{cap}**\n'); last = cap
        out.append(f'{number}. [{titles[i["doc"]]}]({i["src"]})')
    return '\n'.join(out + ['\n**Reference**\n', f'{number + 1}. [API reference](api.md)']).strip()

def toctree(caption, docs)->str:
    body = '\n'.join(str(d) for d in docs)
    cap = f':caption: {caption}\n' if caption else ''
    return f'```{{toctree}}\n:hidden:\n{cap}\n{body}\n```'

def main(src_dir:Path):
    cfg = settings()
    nbs, proc = ROOT/cfg.get('nbs_path', 'nbs'), ROOT/'_proc'
    doc_url = cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')
    if src_dir.exists(): shutil.rmtree(src_dir)
    src_dir.mkdir(parents=True)
    entries = sidebar_entries(nbs/'sidebar.yml')
    # pages: every name a link may use -> {'src': dest source path, 'doc': docname}
    pages, plan = {}, []
    for section, rel in entries:
        relp = Path(rel)
        if relp.suffix not in ('.ipynb', '.md'): sys.exit(f'docs build: unsupported sidebar entry {rel} (only .ipynb, .md)')
        doc = nbdev_page(relp)
        dest = doc.with_suffix(relp.suffix)
        if any(p['doc'] == doc for p in pages.values()):
            sys.exit(f'docs build: two notebooks map to the page {doc}.html; rename one of them ({rel})')
        info = {'src': dest, 'doc': doc}
        for k in (str(relp), str(doc.with_suffix('.html')), str(dest)): pages[k] = info
        plan.append((caption_for(section, rel), relp, info))
    api = {'src': Path('api.md'), 'doc': Path('api')}
    for k in ('api.html', 'api.md'): pages[k] = api
    linker = Linker(doc_url, pages)
    if not any(i['doc'] == Path('index') for _, _, i in plan): sys.exit('docs build: nbs/index.ipynb is missing')

    titles = {i['doc']: front_title(nbformat.read(proc/r, as_version=4)) or i['doc'].name
              for _, r, i in plan if r.suffix == '.ipynb'}
    number = 0
    for caption, relp, info in plan:
        out = src_dir/info['src']; out.parent.mkdir(parents=True, exist_ok=True)
        if info['doc'] != Path('index'): number += 1
        if relp.suffix == '.md':
            out.write_text(linker((proc/relp).read_text(), info['src'])); continue
        nb = nbformat.read(proc/relp, as_version=4)
        ctx = dict(lib=cfg['lib_name'], module=default_exp(nbs/relp, cfg['lib_name']),
                   number=number if info['doc'] != Path('index') else None)
        nb = convert_nb(nb, info['src'], linker, info['doc'].name, ctx)
        info['images'] = n_images(nb)
        if info['doc'] == Path('index'):
            marked = [c for c in nb.cells if c.cell_type == 'markdown' and READING_ORDER in c.source]
            if len(marked) != 1: sys.exit(f'docs build: nbs/index.ipynb needs one {READING_ORDER} (its reading order)')
            marked[0].source = marked[0].source.replace(READING_ORDER, reading_order(plan, titles))
            groups = {}
            for cap, _, i in plan:
                if i['doc'] != Path('index'): groups.setdefault(cap, []).append(i['doc'])
            trees = [toctree(cap, docs) for cap, docs in groups.items()] + [toctree('Reference', [api['doc']])]
            nb.cells.append(nbformat.v4.new_markdown_cell('\n\n'.join(trees)))
        nbformat.write(nb, out)

    import apiref
    (src_dir/'api.md').write_text(apiref.page(cfg['lib_name'], lambda md: linker(clean_show_doc(md), api['src'])))
    # images and other assets that markdown cells refer to by relative path
    for f in nbs.rglob('*'):
        rel = f.relative_to(nbs)
        if f.suffix.lower() in ASSET_EXTS and not any(p.startswith(('.', '_')) for p in rel.parts):
            (src_dir/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, src_dir/rel)
    extra = src_dir.parent/'extra'; extra.mkdir(exist_ok=True)
    (extra/'pages.json').write_text(json.dumps(
        [{'notebook': str(r), 'page': str(i['doc'].with_suffix('.html')), 'section': c, 'images': i.get('images', 0)}
         for c, r, i in plan], indent=1))
    print(f'docs build: {len(plan)} notebooks + API reference -> {src_dir}')

if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).parent))
    main(Path(sys.argv[1]))
