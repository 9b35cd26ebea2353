"""Turn nbdev's processed notebooks (_proc/) into a Sphinx + myst-nb source tree, in nbdev's sidebar order.

    python tools/docs/convert.py SRC_DIR

- Pages keep nbdev's names (`11_core.ipynb` -> `core.html`). nbdev's generated nbs/sidebar.yml (the notebooks' file
  order) is the one list of the reading order: it gives the sidebar (a section per leading digit: 0 theory, 1 methods,
  2 comparison, 3 command line, then the API reference), the chapters' numbers, the previous/next links (Sphinx follows
  the toctree) and the landing notebook's `<!-- reading order -->` list.
- Quarto cell options become myst-nb tags (`echo: false` -> remove-input, `output: false` -> remove-output,
  `include: false` drops the cell); a `show_doc(name)` cell becomes Sphinx autodoc (tools/docs/apidoc.py), in the order
  of the source, with the name's anchor.
- Links to the published site and to `page.html` / `NN_page.ipynb` become links to the local sources (Sphinx checks them).
"""
import inspect, json, os, re, shutil, sys
from configparser import ConfigParser
from pathlib import Path
import nbformat, yaml
from mdit_py_plugins.anchors.index import slugify

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
import apidoc

def nbdev_page(nb_rel:Path)->Path:
    "nbdev's page name for a notebook: numeric prefix dropped, lower case (nbdev.doclinks._nbpath2html)."
    return nb_rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb_rel.name.lower())).with_suffix('')

def sidebar_entries(sidebar_yml:Path)->list:
    "The notebooks of nbdev's sidebar, in order."
    out = []
    def walk(items):
        for it in items:
            if isinstance(it, str): out.append(it)
            elif isinstance(it, dict): out.extend([it['href']] if 'href' in it else []); walk(it.get('contents', []))
    walk(yaml.safe_load(sidebar_yml.read_text())['website']['sidebar']['contents'])
    return out

def caption_for(section, rel:str)->str|None:
    "The sidebar section of a notebook: by the leading digit of its name (None for the landing page)."
    return section or (None if Path(rel).stem == 'index' else apidoc.SECTIONS.get(Path(rel).name[:1], 'Notes'))

_re_link = re.compile(r'(!?\[(?:[^\[\]]|\[[^\]]*\])*\])\(([^()\s]+)((?:\s+"[^"]*")?)\)')

class Linker:
    "Rewrites links in markdown: published-site and page.html links -> local source documents."
    def __init__(self, doc_url:str, pages:dict): self.doc_url, self.pages = doc_url.rstrip('/') + '/', pages

    def target(self, url:str, cur_doc:Path)->str:
        if url.startswith(self.doc_url): url = url[len(self.doc_url):] or 'index.html'
        if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', url): return url  # external (https:, mailto:, ...)
        path, _, frag = url.partition('#')
        if not path: return '#' + slugify(frag) if frag else url
        doc = self.pages.get(path) or self.pages.get(Path(path).name if '/' not in path else path)
        if doc is None: return url  # an asset or unknown file: Sphinx reports it if it is missing
        return os.path.relpath(doc['src'], cur_doc.parent) + ('#' + slugify(frag) if frag else '')

    def __call__(self, md:str, cur_doc:Path)->str:
        md = re.sub(r'(\]\([^()\s]*(?:\s+"[^"]*")?\))\{[^{}\n]*\}', r'\1', md)   # Quarto's link attributes are not MyST
        return _re_link.sub(lambda m: f'{m.group(1)}({self.target(m.group(2), cur_doc)}{m.group(3)})', md)

_re_code = re.compile(r'^(?P<f>`{3,}|~{3,}).*?^(?P=f)[ \t]*$|(?P<b>`+)(?:[^`\n]|\n(?![ \t]*\n))+?(?P=b)', re.S | re.M)
_re_math = re.compile(r'\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)((?:[^$\\]|\\.)+?)(?<!\\)\$(?!\$)', re.S)

def join_display_math(md:str)->str:
    """Put each multi-line formula (`$$...$$` or `$...$`) on one line, as pandoc (Quarto) reads it: under CommonMark a
    line starting with `- `, `+ `, `1. ` or `#` would start a list or heading inside it. Code, and math with a `%`
    comment, are left alone."""
    def fix(m):
        body, d = (m.group(1), '$$') if m.group(1) is not None else (m.group(2), '$')
        if '\n' not in body or re.search(r'(?<!\\)%', body): return m.group(0)
        return d + re.sub(r'[ \t]*\n[ \t]*', ' ', body.strip()) + d
    parts, last = [], 0
    for c in _re_code.finditer(md): parts += [_re_math.sub(fix, md[last:c.start()]), c.group(0)]; last = c.end()
    return ''.join(parts + [_re_math.sub(fix, md[last:])])

def directives(src:str):
    "nbdev/Quarto cell options at the top of a code cell -> (dict, source without them)."
    lines, opts = src.split('\n'), {}
    while lines and (m := re.match(r'^\s*#\s*\|\s?([\w-]+)\s*:?\s*(.*)$', lines[0])):
        opts[m.group(1).lower()] = m.group(2).strip().lower(); lines.pop(0)
    return opts, '\n'.join(lines).strip('\n')

_re_show_doc = re.compile(r'^show_doc\(\s*([A-Za-z_][\w.]*)\s*\)$')

def documented(cell, module:str|None):
    "(object, expression, module) of a `show_doc(expr)` cell (looked up in the notebook's module, then the package)."
    m = _re_show_doc.match(directives(cell.source)[1].strip()) if cell.cell_type == 'code' and module else None
    for mod in [module, *apidoc.public_api(module.split('.')[0])] if m else []:
        try: return apidoc._obj(f'{mod}.{m.group(1)}')[0], m.group(1), mod
        except AttributeError: continue

def show_doc_block(cell, module:str|None)->str|None:
    "autodoc for a `show_doc(expr)` cell (no index entry: the API reference has it), with the expression's anchor."
    if (found := documented(cell, module)) is None: return None
    o, expr, mod = found
    kind = 'class' if inspect.isclass(o) else 'property' if isinstance(o, property) else 'method' if '.' in expr \
        and callable(o) else 'function' if callable(o) else 'data'
    f = getattr(o, 'fget', o)
    name = f'{f.__module__}.{f.__qualname__}' if kind != 'data' else f'{mod}.{expr}'
    return f'({slugify(expr)})=\n```{{eval-rst}}\n.. auto{kind}:: {name}\n   :no-index:\n```'

def reorder_show_docs(cells:list, module:str|None)->list:
    "nbdev inserts one export cell's show_doc cells in reverse: each run of them back in the order of the source."
    def where(c):
        try: f = getattr(documented(c, module)[0], 'fget', documented(c, module)[0]); return inspect.getsourcefile(f), inspect.getsourcelines(f)[1]
        except (TypeError, OSError): return None
    out, run = [], []
    for c in cells + [None]:
        if c is not None and (k := where(c)): run.append((k, c)); continue
        out += [c for _, c in (sorted(run, key=lambda t: t[0]) if len({k[0] for k, _ in run}) == 1 else run)] + [c] * (c is not None)
        run = []
    return out

def _plain(md:str)->str:
    "A caption as plain text (an image's alt text): emphasis, links and TeX markup dropped."
    t = re.sub(r'^\*?\s*Figure:\s*', '', md.strip().split('\n\n')[0].strip(), flags=re.I)
    t = re.sub(r'\\(?:mathcal|mathrm|mathbb|text|operatorname|bm|boldsymbol)\s*|\[([^\]]*)\]\([^)]*\)', r'\1', t)
    t = re.sub(r'\\t?frac\s*\{?([^{}\s])\}?\{?([^{}\s])\}?', r'\1/\2', t)
    greek = dict(theta='θ', mu='μ', sigma='σ', Sigma='Σ', pi='π', alpha='α', beta='β', lambda_='λ', Lambda='Λ', tau='τ',
                 nu='ν', kappa='κ', ell='ℓ', phi='φ', psi='ψ', Psi='Ψ', le='≤', ge='≥', to='→', mid='|', cdot='·',
                 times='×', approx='≈', sum='Σ', infty='∞', langle='⟨', rangle='⟩', quad=' ', qquad=' ')
    t = re.sub(r'\\([A-Za-z]+)', lambda m: greek.get(m.group(1), greek.get(m.group(1) + '_', m.group(1))), t)
    t = re.sub(r'\\.|[${}*`]', '', re.sub(r'\\.', lambda m: '' if m.group(0)[1] != ' ' else ' ', t))
    return ' '.join(t.split()).rstrip('.') + '.'

IMG_MIMES = ('image/png', 'image/jpeg', 'image/gif', 'image/svg+xml')

def add_alt_text(cells:list)->None:
    "Images in outputs get the caption of the markdown cell right below them as alt text (myst-nb's image options)."
    for c, nxt in zip(cells, cells[1:]):
        if c.cell_type == 'code' and nxt.cell_type == 'markdown' and \
                any(m in o.get('data', {}) for o in c.get('outputs', []) for m in IMG_MIMES):
            c.metadata.setdefault('mystnb', {}).setdefault('image', {})['alt'] = _plain(nxt.source)

def convert_nb(nb, cur_doc:Path, linker:Linker, title_fallback:str, ctx:dict|None=None):
    "ctx: module (the notebook's default_exp), number (the chapter's number, or None)."
    ctx, cells, title, desc = ctx or {}, [], None, None
    for cell in reorder_show_docs(nb.cells, ctx.get('module')):
        if cell.cell_type == 'raw':   # the front matter; other raw cells are Quarto-only
            if cell.source.lstrip().startswith('---') and title is None:
                fm = yaml.safe_load(cell.source.strip().strip('-')) or {}; title, desc = fm.get('title'), fm.get('description')
            continue
        if cell.cell_type == 'markdown':
            if not cell.source.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'):
                cell.source = join_display_math(linker(cell.source, cur_doc)); cells.append(cell)
            continue
        opts, cell.source = directives(cell.source)
        if 'hide' in opts or opts.get('include') == 'false': continue
        tags = list(cell.metadata.get('tags', [])) + ['remove-input'] * (opts.get('echo') == 'false') \
            + ['remove-output'] * (opts.get('output') == 'false')
        if opts.get('output') == 'asis':   # show_doc (autodoc, or nbdev's markdown without its source link), or markdown
            block = show_doc_block(cell, ctx.get('module'))
            mds = [block] if block else [linker(re.sub(r'^(\[source\]\(.*|---\s*)$', '', o['data']['text/markdown'], flags=re.M)
                                                if _re_show_doc.match(cell.source) else o['data']['text/markdown'], cur_doc)
                                         for o in cell.outputs if 'text/markdown' in o.get('data', {})]
            if 'remove-input' not in tags and cell.source.strip():
                cell.outputs, cell.metadata['tags'] = [], list(dict.fromkeys(tags + ['remove-output'])); cells.append(cell)
            cells += [nbformat.v4.new_markdown_cell(md.strip()) for md in mds]; continue
        for o in cell.get('outputs', []):
            if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = linker(o['data']['text/markdown'], cur_doc)
        if 'remove-input' in tags and ('remove-output' in tags or not cell.get('outputs')) or \
                not cell.source.strip() and not cell.get('outputs'): continue
        if tags: cell.metadata['tags'] = list(dict.fromkeys(tags))
        cells.append(cell)
    add_alt_text(cells)
    title = (f"{ctx['number']}. " if ctx.get('number') is not None else '') + (title or title_fallback)
    head = f'# {title}' + (f'\n\n{{.lead}}\n{linker(str(desc), cur_doc)}' if desc else '')
    nb.cells = [nbformat.v4.new_markdown_cell(head)] + cells
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.metadata['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    return nb

def n_images(nb)->int:
    "Figures the rendered page must show: image outputs of cells whose output is kept, and markdown images."
    return sum(len(re.findall(r'!\[[^\]]*\]\(|<img\b', c.source)) if c.cell_type == 'markdown' else
               0 if {'remove-output', 'remove-cell'} & set(c.metadata.get('tags', [])) else
               sum(any(m in o.get('data', {}) for m in IMG_MIMES) for o in c.get('outputs', [])) for c in nb.cells)

def default_exp(nb_path:Path, lib:str)->str|None:
    "The module a notebook exports to (its `#| default_exp` cell), as an importable name."
    code = '\n'.join(c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == 'code') if nb_path.is_file() else ''
    m = re.search(r'^#\|\s*default_exp\s+(\S+)', code, re.M)
    return f'{lib}.{m.group(1)}' if m and not m.group(1).startswith('_') else None

def reading_order(plan:list, titles:dict)->str:
    "The landing page's reading order: per sidebar section, the numbered chapters, each a link to its page."
    out, last = [], None
    for number, (cap, _, i) in enumerate(plan[1:], 1):
        out += [f'\n**{cap}**\n'] * (cap != last) + [f'{number}. [{titles[i["doc"]]}]({i["src"]})']; last = cap
    return '\n'.join(out + ['\n**Reference**\n', f'{len(plan)}. [API reference](api.rst)']).strip()

def main(src_dir:Path):
    cp = ConfigParser(delimiters=['=']); cp.read(ROOT/'settings.ini', encoding='utf-8'); cfg = cp['DEFAULT']
    nbs, proc, lib = ROOT/cfg.get('nbs_path', 'nbs'), ROOT/'_proc', cfg['lib_name']
    if src_dir.exists(): shutil.rmtree(src_dir)
    src_dir.mkdir(parents=True)
    pages, plan = {k: {'src': Path('api.rst'), 'doc': Path('api')} for k in ('api.html', 'api.rst')}, []
    for rel in map(Path, sidebar_entries(nbs/'sidebar.yml')):   # every name a link may use -> the page
        doc = nbdev_page(rel)
        if rel.suffix != '.ipynb': sys.exit(f'docs build: unsupported sidebar entry {rel} (only notebooks)')
        if any(p['doc'] == doc for p in pages.values()): sys.exit(f'docs build: two notebooks map to {doc}.html; rename {rel}')
        info = {'src': doc.with_suffix('.ipynb'), 'doc': doc}
        pages |= {str(rel): info, str(doc.with_suffix('.html')): info, str(info['src']): info}
        plan.append((caption_for(None, str(rel)), rel, info))
    if plan[0][2]['doc'] != Path('index'): sys.exit('docs build: nbs/index.ipynb must come first in the sidebar')
    linker = Linker(cfg.get('doc_host', '') + cfg.get('doc_baseurl', ''), pages)
    nbs_read = {i['doc']: nbformat.read(proc/r, as_version=4) for _, r, i in plan}
    titles = {d: next((yaml.safe_load(c.source.strip().strip('-')) or {} for c in nb.cells if c.cell_type == 'raw'
                       and c.source.lstrip().startswith('---')), {}).get('title') or d.name for d, nb in nbs_read.items()}
    for number, (cap, rel, info) in enumerate(plan):
        ctx = dict(module=default_exp(nbs/rel, lib), number=number or None)
        nb = convert_nb(nbs_read[info['doc']], info['src'], linker, info['doc'].name, ctx)
        info['images'] = n_images(nb)
        if number == 0:
            marked = [c for c in nb.cells if c.cell_type == 'markdown' and '<!-- reading order -->' in c.source]
            if len(marked) != 1: sys.exit('docs build: nbs/index.ipynb needs one <!-- reading order --> (its reading order)')
            marked[0].source = marked[0].source.replace('<!-- reading order -->', reading_order(plan, titles))
            groups = {}
            for c, _, i in plan[1:]: groups.setdefault(c, []).append(i['doc'])
            nb.cells.append(nbformat.v4.new_markdown_cell('\n\n'.join(
                f'```{{toctree}}\n:hidden:\n:caption: {c}\n\n' + '\n'.join(map(str, d)) + '\n```'
                for c, d in [*groups.items(), ('Reference', ['api'])])))
        (src_dir/info['src']).parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, src_dir/info['src'])
    (src_dir/'api.rst').write_text(apidoc.page(lib))
    for f in nbs.rglob('*'):   # images that markdown cells refer to by relative path
        if f.suffix.lower() in ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp') and \
                not any(p.startswith(('.', '_')) for p in f.relative_to(nbs).parts):
            (src_dir/f.relative_to(nbs)).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, src_dir/f.relative_to(nbs))
    (src_dir.parent/'extra').mkdir(exist_ok=True)
    (src_dir.parent/'extra'/'pages.json').write_text(json.dumps(
        [{'notebook': str(r), 'page': str(i['doc'].with_suffix('.html')), 'section': c, 'images': i['images']}
         for c, r, i in plan], indent=1))
    print(f'docs build: {len(plan)} notebooks + API reference -> {src_dir}')

if __name__ == '__main__':
    main(Path(sys.argv[1]))
