"""The API reference, generated at build time from the code itself, in scikit-learn's layout.

Every public name of the package (each module's `__all__`) gets a block: its signature, its one-line docstring and
tables taken from the code, so that they cannot drift from it:
  - Parameters: the signature, with each parameter's docment (fastcore's `docments`: the comment after it);
  - Returns: the return annotation and the docment after `)->T:`, or `self` when every `return` returns self;
  - Raises: the exceptions raised by the function and by the package functions and methods it calls (`f(...)`,
    `self.m(...)`, `super().m(...)`, `Class.m(...)`, read from the source), except inside a `try` that catches
    every `Exception` (a command's entry point turns them into exit codes);
  - Attributes (classes): the `_attributes` dict of the class and of its bases in the package, e.g.
        GaussianMixtureEM._attributes = dict(weights_="(K,) mixing weights", ...)
    (the fitted attributes, which no signature shows; tools/docs/check.py fails when a `self.name_ = ...` of the
    class has no entry);
  - Methods (classes): every public method, inherited ones included, each with its own tables.
Names are grouped by purpose: estimators (classes with `fit`), theory (modules of the 0x notebooks), core (the other
modules of the 1x notebooks) and utilities (data sets, plots, the command line). sympy symbols and constants are
listed in a table per module, not as functions. The same renderer draws the `show_doc` blocks of the chapter pages
(tools/docs/convert.py), with headings that stay out of the page's contents list.
"""
import ast, html, importlib, inspect, pkgutil, re, textwrap
from pathlib import Path

GROUPS = {'Estimators': 'The scikit-learn-style estimators: construct with hyperparameters, `fit(X)`, then read the '
                        'fitted attributes (names ending in `_`) and call the methods.',
          'Theory': 'The derivations of the theory chapters, as sympy functions that the chapters\' proofs use.',
          'Core': 'The coordinate-ascent loop, the Gaussian building blocks and the models behind the estimators.',
          'Utilities': 'Data sets, plots and the command line.'}
UTILITY_MODULES = ('datasets', 'plots', 'cli')  # modules of the methods notebooks that are tools, not methods

# ---- what the package offers ----------------------------------------------------------------------------------------
def notebook_of(mod)->str:
    "The notebook a module is exported from (nbdev writes `File to edit: ../nbs/NAME.ipynb` into it)."
    try: src = Path(inspect.getfile(mod)).read_text()
    except (TypeError, OSError): return ''
    m = re.search(r'File to edit: (\S+\.ipynb)', src)
    return Path(m.group(1)).name if m else ''

def modules(lib:str)->list:
    "The package's public modules in reading order (by notebook; private `_x` modules and `__main__` skipped)."
    pkg = importlib.import_module(lib)
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, lib + '.')
             if not any(p.startswith('_') for p in m.name.split('.'))]
    mods = [importlib.import_module(n) for n in names]
    return sorted(mods, key=lambda m: (notebook_of(m) or '~', m.__name__))

def public_names(mod)->list:
    "A module's `__all__`; without one, the public names it defines itself."
    if hasattr(mod, '__all__'): return list(mod.__all__)
    return [n for n, o in vars(mod).items() if not n.startswith('_') and getattr(o, '__module__', None) == mod.__name__]

def public_api(lib:str)->dict:
    return {m.__name__: public_names(m) for m in modules(lib)}

def is_symbol(obj)->bool: return type(obj).__module__.split('.')[0] == 'sympy' and not callable(obj)
def is_constant(obj)->bool: return not callable(obj) and not inspect.ismodule(obj) and not isinstance(obj, property)
def is_estimator(obj)->bool:
    "A class with `fit` and a constructor of its own (hyperparameters); a bare shell such as MixtureEstimator is core."
    return (inspect.isclass(obj) and callable(getattr(obj, 'fit', None)) and not issubclass(obj, BaseException)
            and obj.__init__ is not object.__init__)

def group_of(mod, obj=None)->str:
    if obj is not None and is_estimator(obj): return 'Estimators'
    nb, short = notebook_of(mod), mod.__name__.split('.')[-1]
    if nb[:1] == '0' or '.derive' in mod.__name__: return 'Theory'
    if short in UTILITY_MODULES or nb[:1] in '23': return 'Utilities'
    return 'Core'

# ---- reading the code ---------------------------------------------------------------------------------------------
def _e(s)->str: return html.escape(str(s), quote=True)

def inline(text:str)->str:
    "Docstring/docment text -> HTML: escaped, `code` spans, markdown links reduced to their text."
    text = re.sub(r'\[`?([^\]`]+)`?\]\([^)]*\)', r'`\1`', str(text))
    parts = re.split(r'(`[^`]+`)', text)
    return ''.join(f'<code>{_e(p[1:-1])}</code>' if p.startswith('`') and p.endswith('`') and len(p) > 1 else _e(p)
                   for p in parts)

def type_name(a)->str:
    if a is inspect.Parameter.empty or a is inspect.Signature.empty or a is None: return ''
    if isinstance(a, str): return a
    if isinstance(a, type): return a.__qualname__ if a.__module__ in ('builtins',) else a.__name__
    return str(a).replace('typing.', '')

def signature(obj):
    try: return inspect.signature(obj)
    except (TypeError, ValueError): return None

def _docments(obj)->dict:
    from fastcore.docments import docments
    if callable(obj): obj = inspect.unwrap(obj)   # an lru_cache'd function: the docments of the function it wraps
    try: return dict(docments(obj, full=True, args_kwargs=True))   # **kwargs too (a set_params(**params))
    except Exception: return {}

def _source(obj):
    try: return textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError): return None

def _func_node(obj):
    src = _source(obj)
    if src is None: return None
    try: tree = ast.parse(src)
    except SyntaxError: return None
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): return n
    return None

def _own_nodes(fn):
    "The nodes of a function body, nested functions and classes excluded."
    todo = list(fn.body)
    while todo:
        n = todo.pop()
        yield n
        todo += [c for c in ast.iter_child_nodes(n) if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                          ast.ClassDef, ast.Lambda))]

def returns_self(obj)->bool:
    fn = _func_node(obj)
    if fn is None: return False
    rets = [n for n in _own_nodes(fn) if isinstance(n, ast.Return) and n.value is not None]
    return bool(rets) and all(isinstance(r.value, ast.Name) and r.value.id == 'self' for r in rets)

def returns_value(obj)->bool:
    fn = _func_node(obj)
    if fn is None: return True
    return any(isinstance(n, ast.Return) and n.value is not None for n in _own_nodes(fn)) or \
           any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(fn))

def _message(call)->str:
    "The message of `raise E(...)`: its string literal, f-string holes shown as …."
    if not isinstance(call, ast.Call) or not call.args: return ''
    a = call.args[0]
    parts = []
    def walk(x):
        if isinstance(x, ast.Constant) and isinstance(x.value, str): parts.append(x.value)
        elif isinstance(x, ast.JoinedStr):
            for v in x.values: parts.append(v.value if isinstance(v, ast.Constant) else '…')
        elif isinstance(x, ast.BinOp) and isinstance(x.op, ast.Add): walk(x.left); walk(x.right)
        else: parts.append('…')
    walk(a)
    return re.sub(r'(…\s*)+', '… ', ''.join(parts)).strip()

def _raising_nodes(fn):
    """The nodes of a function body whose raises are the function's: its own, and its lambdas' (called in place); not
    the body of a `try` whose handlers catch everything (`except Exception:`), as a command's entry point does."""
    def catches_all(t):
        return any(h.type is None or (isinstance(h.type, ast.Name) and h.type.id in ('Exception', 'BaseException'))
                   for h in t.handlers)
    todo = list(fn.body)
    while todo:
        n = todo.pop()
        yield n
        kids = [c for c in ast.iter_child_nodes(n) if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if isinstance(n, ast.Try) and catches_all(n): kids = [c for c in kids if c not in n.body]
        todo += kids

def _super_attr(cls, f, name:str):
    "What `super().name` means inside `f`, a method of `cls` or of one of its bases."
    mro = cls.__mro__
    for i, c in enumerate(mro):
        if any(getattr(v, '__func__', v) is f for v in vars(c).values()):
            for b in mro[i + 1:]:
                if name in vars(b): return vars(b)[name]
            return None
    return None

def raises(obj, lib:str, cls=None, _seen=None, depth=0)->dict:
    """{exception name: [messages]} raised by `obj` or by what it calls in the package: functions, `Class.method`,
    `self.method` and `super().method` (called, or passed on as a callable), and the lambdas it defines."""
    _seen = set() if _seen is None else _seen
    f = inspect.unwrap(getattr(obj, 'fget', obj))
    if id(f) in _seen or depth > 4: return {}
    _seen.add(id(f))
    fn, out = _func_node(f), {}
    if fn is None: return out
    g = getattr(f, '__globals__', {})
    def add(name, msg):
        msgs = out.setdefault(name, [])
        if msg and msg not in msgs: msgs.append(msg)
    for n in _raising_nodes(fn):
        if isinstance(n, ast.Raise) and n.exc is not None:
            e = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
            name = e.id if isinstance(e, ast.Name) else e.attr if isinstance(e, ast.Attribute) else None
            if name and (name[:1].isupper()): add(name, _message(n.exc))
        elif isinstance(n, (ast.Call, ast.Attribute)):
            callee, v = None, n.value if isinstance(n, ast.Attribute) else None
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name): callee = g.get(n.func.id)
            elif isinstance(n, ast.Call): continue       # an attribute call: its Attribute node comes next
            elif isinstance(v, ast.Name) and v.id == 'self' and cls is not None:
                callee = inspect.getattr_static(cls, n.attr, None)
            elif isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == 'super' and cls is not None:
                callee = _super_attr(cls, f, n.attr)
            elif isinstance(v, ast.Name) and inspect.isclass(g.get(v.id)):   # Class.method(self, ...)
                callee = inspect.getattr_static(g[v.id], n.attr, None)
            callee = getattr(callee, '__func__', callee)
            if callee is not None and (inspect.isfunction(callee) or inspect.isclass(callee)) and \
                    getattr(callee, '__module__', '').split('.')[0] == lib and not inspect.isclass(callee):
                for k, ms in raises(callee, lib, cls, _seen, depth + 1).items():
                    for m in ms: add(k, m)
    return out

def attributes(cls, lib:str)->dict:
    "The documented attributes: `_attributes` of the class and of its bases in the package (the class's own last)."
    out = {}
    for c in reversed(cls.__mro__):
        if c.__module__.split('.')[0] != lib: continue
        out.update(vars(c).get('_attributes', {}) or {})
    for n, o in vars(cls).items():  # properties document themselves
        if isinstance(o, property) and not n.startswith('_'): out.setdefault(n, (inspect.getdoc(o) or '').split('\n')[0])
    return out

def fitted_attributes(cls, lib:str)->list:
    "Names assigned as `self.name_ = ...` (scikit-learn's fitted attributes) in the class and its package bases."
    out = []
    for c in cls.__mro__:
        if c.__module__.split('.')[0] != lib: continue
        funcs = [o for o in vars(c).values() if inspect.isfunction(o)]
        mod = inspect.getmodule(c)   # methods patched in from module functions (`Cls.name = _name`) too
        for o in funcs:
            fn = _func_node(o)
            if fn is None: continue
            for n in ast.walk(fn):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, (ast.AnnAssign, ast.AugAssign)) else []
                for t in targets:
                    for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == 'self' \
                                and e.attr.endswith('_') and not e.attr.startswith('_') and e.attr not in out:
                            out.append(e.attr)
    return out

def methods(cls, lib:str)->list:
    "[(name, obj, defining class)] of the public methods, the class's own first, then inherited ones from the package."
    seen, out = set(), []
    for c in cls.__mro__:
        if c.__module__.split('.')[0] != lib: continue
        for n, o in vars(c).items():
            if n.startswith('_') or n in seen or n == '_attributes': continue
            if isinstance(o, (staticmethod, classmethod)): o = o.__func__
            if inspect.isfunction(o):
                seen.add(n); out.append((n, o, c))
    return out

# ---- rendering ------------------------------------------------------------------------------------------------------
def summary(obj)->str:
    doc = inspect.getdoc(obj) or ''
    if inspect.isclass(obj) and doc == inspect.getdoc(object): return ''
    return doc.strip()

def _params(obj, skip_first:bool, owner=None)->list:
    """[(name, type, has default, default, docment)] from the signature and the docments. A method's parameter without
    a docment takes the docment of the same parameter of the class's `fit` or constructor (X, y, sample_weight...)."""
    sig = signature(obj)
    if sig is None: return []
    dm = _docments(obj)
    if owner is not None:
        shared = {}
        for f in (getattr(owner, '__init__', None), getattr(owner, 'fit', None)):
            for k, v in (_docments(f) if f is not None else {}).items():
                if k != 'return' and (v or {}).get('docment'): shared.setdefault(k, v)
        dm = {k: (v if (v or {}).get('docment') else shared.get(k, v)) for k, v in dm.items()}
        dm.update({k: v for k, v in shared.items() if k not in dm})
    out = []
    for i, (n, p) in enumerate(sig.parameters.items()):
        if i == 0 and skip_first and n in ('self', 'cls'): continue
        star = '*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else ''
        default = None if p.default is p.empty else p.default
        out.append((star + n, type_name(p.annotation), p.default is not p.empty, default,
                    (dm.get(n) or {}).get('docment') or ''))
    return out

def _sig_text(name:str, obj, skip_first:bool)->str:
    sig = signature(obj)
    if sig is None: return _e(name)
    ps, star_done = [], False
    for i, (n, p) in enumerate(sig.parameters.items()):
        if i == 0 and skip_first and n in ('self', 'cls'): continue
        if p.kind == p.KEYWORD_ONLY and not star_done:
            if not any(q.kind == q.VAR_POSITIONAL for q in sig.parameters.values()): ps.append('*')
            star_done = True
        s = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + n
        if p.default is not p.empty: s += '=' + _short_repr(p.default)
        ps.append(s)
    return f'<span class="api-name">{_e(name)}</span>(' + ', '.join(f'<span class="api-p">{_e(p)}</span>' for p in ps) + ')'

def _short_repr(v, n=60)->str:
    r = repr(v)
    return r if len(r) <= n else r[:n-1] + '…'

def _dl(cls_, rows)->str:
    "rows: [(data key, term html, description html)]"
    items = ''.join(f'<dt data-key="{_e(k)}">{t}</dt><dd class="{"api-desc" if d else "api-desc api-nodoc"}">{d}</dd>'
                    for k, t, d in rows)
    return f'<dl class="api-fields {cls_}">{items}</dl>'

def _field(title, body)->str: return f'<p class="api-field-title">{title}</p>{body}'

def _params_html(obj, skip_first:bool, owner=None)->str:
    rows = []
    for n, t, has_default, d, doc in _params(obj, skip_first, owner):
        term = f'<code class="api-pname">{_e(n)}</code>'
        ty = ', '.join(x for x in (_e(t) if t else '', f'default=<code>{_e(_short_repr(d))}</code>' if has_default else '') if x)
        if ty: term += f' : <span class="api-type">{ty}</span>'
        rows.append((n.lstrip('*'), term, inline(doc)))
    return _field('Parameters', _dl('api-params', rows)) if rows else ''

def _returns_html(obj)->str:
    sig = signature(obj)
    if sig is None: return ''
    doc = (_docments(obj).get('return') or {}).get('docment') or ''
    ann = type_name(sig.return_annotation)
    if returns_self(obj): ann, doc = ann or 'self', doc or 'the object itself (so that calls chain)'
    if not (ann or doc) and not returns_value(obj): return ''
    if ann in ('None',) and not doc: return ''
    return _field('Returns', _dl('api-returns', [('return', f'<span class="api-type">{_e(ann or "object")}</span>', inline(doc))]))

def _raises_html(obj, lib, cls=None)->str:
    rs = raises(obj, lib, cls)
    if not rs: return ''
    rows = [(k, f'<code class="api-exc">{_e(k)}</code>',
             '<br>'.join(inline(m) for m in ms[:4]) + (' …' if len(ms) > 4 else '')) for k, ms in rs.items()]
    return _field('Raises', _dl('api-raises', rows))

def _summary_html(obj)->str:
    doc = summary(obj)
    return ''.join(f'<p class="api-summary">{inline(p)}</p>' for p in re.split(r'\n\s*\n', doc) if p.strip())

def _table(rows, head)->str:
    "A summary table: rows of (link target id or None, name, text html)."
    body = ''.join(f'<tr><td><a class="reference internal" href="#{_e(i)}"><code>{_e(n)}</code></a></td><td>{t}</td></tr>'
                   if i else f'<tr><td><code>{_e(n)}</code></td><td>{t}</td></tr>' for i, n, t in rows)
    return f'<table class="api-summary-table"><thead><tr><th>{head[0]}</th><th>{head[1]}</th></tr></thead><tbody>{body}</tbody></table>'

def object_html(obj, qualname:str, lib:str, anchor:str, owner=None, kind=None, shown_name=None)->str:
    "One name's block (a single raw-HTML block: no blank lines)."
    name = shown_name or qualname.split('.')[-1]
    is_cls = inspect.isclass(obj)
    kind = kind or ('class' if is_cls else 'method' if owner is not None else 'function')
    target = obj.__init__ if is_cls and not _is_auto_init(obj) else obj
    skip_first = is_cls or owner is not None
    parts = [f'<div class="api-object api-{kind}" id="{_e(anchor)}" data-name="{_e(qualname)}" data-kind="{kind}">',
             f'<p class="api-sig"><em class="api-kind">{kind}</em> {_sig_text(name, obj if not is_cls else obj, False if is_cls else skip_first)}</p>'
             if not is_cls else f'<p class="api-sig"><em class="api-kind">class</em> {_sig_text(name, obj, False)}</p>']
    if owner is not None and kind == 'method' and owner[1] is not None:
        parts.append(f'<p class="api-inherited">Inherited from <code>{_e(owner[1])}</code>.</p>')
    parts.append(_summary_html(obj))
    parts.append(_params_html(obj, False if is_cls else skip_first, owner[0] if owner else None))
    if is_cls:
        attrs = attributes(obj, lib)
        found = fitted_attributes(obj, lib)
        names = list(attrs) + [a for a in found if a not in attrs]
        if names:
            parts.append(_field('Attributes', _dl('api-attributes',
                         [(a, f'<code class="api-pname">{_e(a)}</code>', inline(attrs.get(a, ''))) for a in names])))
        ms = methods(obj, lib)
        if ms:
            rows = [(f'{anchor}.{n}', n, inline((inspect.getdoc(o) or '').split('\n')[0]) +
                     (f' <span class="api-inherited">(from <code>{_e(c.__name__)}</code>)</span>' if c is not obj else ''))
                    for n, o, c in ms]
            parts.append(_field('Methods', _table(rows, ('Method', 'Summary'))))
        parts.append(_raises_html(obj.__init__, lib, obj) if not _is_auto_init(obj) else '')
    else:
        parts.append(_returns_html(obj))
        parts.append(_raises_html(obj, lib, owner[0] if owner else None))
    if is_cls:
        for n, o, c in methods(obj, lib):
            parts.append(object_html(o, f'{qualname}.{n}', lib, f'{anchor}.{n}', owner=(obj, None if c is obj else c.__name__),
                                     kind='method', shown_name=n))
    parts.append('</div>')
    return ''.join(p for p in parts if p)

def _is_auto_init(cls)->bool:
    return cls.__init__ is object.__init__

def heading_id(text:str)->str:
    from mdit_py_plugins.anchors.index import slugify
    return slugify(text)

def home_module(mod, name:str, api:dict)->str|None:
    """The module a re-exported name lives in: the module of its definition, when that is another public module whose
    `__all__` holds the same object under the same name (emtheory.latent re-exports emtheory.ppca's PPCA); else None."""
    obj = getattr(mod, name)
    home = getattr(obj, '__module__', None) if (inspect.isclass(obj) or inspect.isroutine(obj)) else None
    if not home or home == mod.__name__ or name not in api.get(home, ()): return None
    return home if getattr(importlib.import_module(home), name, None) is obj else None

def _reexport_table(m, items)->str:
    "The names a module re-exports, each linked to its block under its home module (the alias keeps its own anchor)."
    rows = ''.join(f'<tr id="{_e(m.__name__ + "." + n)}" data-name="{_e(m.__name__ + "." + n)}" data-kind="alias" '
                   f'data-target="{_e(h + "." + n)}"><td><code>{_e(n)}</code></td><td><a class="reference internal" '
                   f'href="#{_e(h + "." + n)}"><code>{_e(h + "." + n)}</code></a></td></tr>' for n, h in items)
    return (f'<table class="api-summary-table api-reexports"><thead><tr><th>Name</th><th>Documented as</th>'
            f'</tr></thead><tbody>{rows}</tbody></table>')

def page(lib:str, clean=None)->str:
    """MyST markdown of the API reference page (`clean` is unused: kept for the converter's call). A name a module
    re-exports from another public module is documented once, under its home module; the re-exporting module's
    section lists it as "also available here", and the home block says where else it can be imported from."""
    mods = [m for m in modules(lib) if public_names(m)]
    api = {m.__name__: public_names(m) for m in mods}
    groups = {g: [] for g in GROUPS}
    reexports, aliases = {}, {}   # module -> [(name, home)]; home.name -> [other module.name]
    for m in mods:
        for n in public_names(m):
            h = home_module(m, n, api)
            if h:
                reexports.setdefault(m, []).append((n, h))
                aliases.setdefault(f'{h}.{n}', []).append(f'{m.__name__}.{n}')
            else: groups[group_of(m, getattr(m, n))].append((m, n, getattr(m, n)))
    def also(q):
        a = aliases.get(q)
        return (f'<p class="api-also">Also available as {" and ".join(f"<code>{_e(x)}</code>" for x in a)}.</p>\n\n'
                if a else '')
    out = ['# API reference', '', '{.lead}',
           f'Every public name of `{lib}` (each module\'s `__all__`), grouped by purpose. The parameters, return '
           'values, exceptions and fitted attributes below are read from the code: its signatures, docments, '
           '`raise` statements and the `_attributes` of the classes. A name that a module re-exports from another '
           'is documented once, under the module that defines it.', '']
    # the index: one summary table per group
    for g, items in groups.items():
        sect = [m for m in mods if any(mm is m for mm, _, _ in items) or (m in reexports and group_of(m) == g)]
        if not sect: continue
        out += [f'## {g}', '', GROUPS[g], '']
        if g == 'Estimators':
            out += [_table([(f'{m.__name__}.{n}', n, inline(summary(o).split('\n')[0])) for m, n, o in items],
                           ('Class', 'Summary')), '']
            for m, n, o in items:
                out += [f'### {n}', '', also(f'{m.__name__}.{n}') + object_html(o, f'{m.__name__}.{n}', lib, f'{m.__name__}.{n}'), '']
            continue
        for m in sect:
            names = [(n, o) for mm, n, o in items if mm is m]
            out += [f'### {m.__name__}', '']
            first = (inspect.getdoc(m) or '').strip().split('\n\n')[0]
            if first: out += [f'<p class="api-module-doc">{inline(first)}</p>', '']
            funcs = [(n, o) for n, o in names if not is_constant(o)]
            consts = [(n, o) for n, o in names if is_constant(o) and not is_symbol(o)]
            syms = [(n, o) for n, o in names if is_symbol(o)]
            if funcs:
                out += [_table([(f'{m.__name__}.{n}', n, inline(summary(o).split('\n')[0])) for n, o in funcs],
                               ('Name', 'Summary')), '']
            if consts:
                out += [_const_table(m, consts, 'Constant', 'Value'), '']
            if syms:
                out += [_const_table(m, syms, 'sympy symbol', 'Assumptions', symbols=True), '']
            if m in reexports:
                homes = sorted({h for _, h in reexports[m]})
                out += [f'<p class="api-reexport-note">Also available from <code>{_e(m.__name__)}</code> (re-exported, and '
                        f'documented once, under {" and ".join(f"<code>{_e(h)}</code>" for h in homes)}):</p>', '',
                        _reexport_table(m, reexports[m]), '']
            for n, o in funcs:
                out += [f'#### {n}', '', also(f'{m.__name__}.{n}') + object_html(o, f'{m.__name__}.{n}', lib, f'{m.__name__}.{n}'), '']
    return '\n'.join(out) + '\n'

def _const_table(m, items, h0, h1, symbols=False)->str:
    rows = []
    for n, o in items:
        if symbols:
            a = getattr(o, 'assumptions0', {})
            val = ', '.join(k for k, v in sorted(a.items()) if v and k in ('real', 'positive', 'integer', 'nonnegative'))
            val = f'<code>{_e(o)}</code>' + (f' ({_e(val)})' if val else '')
        else: val = f'<code>{_e(_short_repr(o, 100))}</code>'
        rows.append(f'<tr id="{_e(m.__name__ + "." + n)}" data-name="{_e(m.__name__ + "." + n)}" data-kind="{"symbol" if symbols else "constant"}">'
                    f'<td><code>{_e(n)}</code></td><td>{val}</td></tr>')
    return (f'<table class="api-summary-table api-constants"><thead><tr><th>{h0}</th><th>{h1}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')

# ---- chapter pages: nbdev's show_doc cells ----------------------------------------------------------------------------
def resolve(expr:str, lib:str, module:str|None):
    "The object a `show_doc(expr)` cell documents, looked up in the notebook's module, then in the whole package."
    parts = expr.strip().split('.')
    cands = ([importlib.import_module(module)] if module else []) + modules(lib)
    for m in cands:
        o = m
        try:
            for p in parts: o = getattr(o, p)
        except AttributeError: continue
        home = getattr(o, '__module__', None) or m.__name__
        return o, home
    return None, None

def chapter_block(expr:str, lib:str, module:str|None, level:int, anchor:str)->str|None:
    "The markdown replacing nbdev's show_doc output on a chapter page, or None when the name cannot be found."
    obj, home = resolve(expr, lib, module)
    if obj is None: return None
    owner = None
    if '.' in expr and not inspect.isclass(obj):
        cls, _ = resolve(expr.rsplit('.', 1)[0], lib, module)
        owner = (cls, None)
    name = expr.strip()
    # a label on a rubric: a target that links resolve to, and no entry in the page's contents list
    h = f'({anchor})=\n:::{{rubric}} {name}\n:class: api-heading api-h{level}\n:::\n\n'
    return h + object_html(obj, f'{home}.{name}' if home else name, lib, anchor,
                           owner=owner, kind='method' if owner else None, shown_name=name)
