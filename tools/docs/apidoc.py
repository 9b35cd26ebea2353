"""The API reference: Sphinx autodoc, and a hook that adds what autodoc cannot see, read from the code: parameters and
returns from fastcore's docments (a method's parameter without one takes its class's constructor's or `fit`'s; a
method that returns `self` says so); a class's fitted attributes (`_attributes` of it and its package bases); what a
function raises, itself or through the package functions and methods it calls (not inside a catch-all `try`).
`page(lib)` writes the page: the estimators, then per section each public module's `__all__`, a re-exported name
documented once, under its home module."""
import ast, functools, importlib, inspect, pkgutil, re, textwrap
from pathlib import Path
from fastcore.docments import docments

SECTIONS = {'0': 'Theory', '1': 'Methods', '2': 'Comparison', '3': 'Command line'}

def notebook_of(mod)->str:
    "The notebook a module is exported from (nbdev writes `File to edit: ../nbs/NAME.ipynb` into it)."
    m = re.search(r'File to edit: \S*?([^/\s]+\.ipynb)', Path(inspect.getfile(mod)).read_text())
    return m.group(1) if m else '~'

@functools.cache
def public_api(lib:str)->dict:
    "module name -> its `__all__`, for the public modules (no `_x` part), in reading order (by notebook)."
    names = [m.name for m in pkgutil.walk_packages(importlib.import_module(lib).__path__, lib + '.')
             if not any(p.startswith('_') for p in m.name.split('.'))]
    mods = sorted(map(importlib.import_module, names), key=lambda m: (notebook_of(m), m.__name__))
    return {m.__name__: list(m.__all__) for m in mods if getattr(m, '__all__', None)}

def reexports(api:dict)->dict:
    "`module.name` -> `home.name` for a name a module re-exports from another public module (the same object)."
    out = {}
    for m, names in api.items():
        for n in names:
            o = getattr(importlib.import_module(m), n)
            h = getattr(o, '__module__', None) if inspect.isclass(o) or inspect.isroutine(o) else None
            if h and h != m and n in api.get(h, ()) and getattr(importlib.import_module(h), n) is o: out[f'{m}.{n}'] = f'{h}.{n}'
    return out

def public_callables(api:dict, lib:str):
    "(name, object) of the public callables, and of the public methods of public classes (inherited ones from the package)."
    for m, names in api.items():
        for n in names:
            if not callable(o := getattr(importlib.import_module(m), n)): continue
            yield f'{m}.{n}', o
            for mn in dir(o) if inspect.isclass(o) else []:
                f = getattr(inspect.getattr_static(o, mn), '__func__', inspect.getattr_static(o, mn))
                if mn[0] != '_' and inspect.isfunction(f) and any(mn in vars(c) for c in o.__mro__ if in_lib(c, lib)): yield f'{m}.{n}.{mn}', f

def in_lib(c, lib:str)->bool: return c.__module__.split('.')[0] == lib

def _def(f):
    "The `def` node of a function (None without source)."
    try: tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(f))))
    except (TypeError, OSError, SyntaxError): return None
    return next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)

def own_nodes(fn, skip_try:bool=False):
    "The nodes of a function's own body (no nested def, class or lambda); with skip_try, not inside a catch-all `try`."
    todo = list(fn.body)
    while todo:
        n = todo.pop(); yield n
        kids = [c for c in ast.iter_child_nodes(n) if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        if skip_try and isinstance(n, ast.Try) and any(h.type is None or getattr(h.type, 'id', '') in ('Exception', 'BaseException')
                                                       for h in n.handlers): kids = [c for c in kids if c not in n.body]
        todo += kids

def returns_what(f)->str|None:
    "'value' when the function's own body returns a value (or yields), 'self' when every such `return` is `self`, else None."
    fn = _def(f)
    if fn is None: return None
    nodes = list(own_nodes(fn))
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes): return 'value'
    rets = [n.value for n in nodes if isinstance(n, ast.Return) and n.value is not None]
    return None if not rets else 'self' if all(getattr(r, 'id', None) == 'self' for r in rets) else 'value'

def assigned_attributes(cls, lib:str)->set:
    "scikit-learn's fitted attributes: `self.name_ = ...` in the methods of the class and its package bases."
    out = set()
    for o in [o for c in cls.__mro__ if in_lib(c, lib) for o in vars(c).values() if inspect.isfunction(o)]:
        for n in ast.walk(_def(o) or ast.Module([], [])):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, (ast.AnnAssign, ast.AugAssign)) else []:
                out |= {e.attr for e in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(e, ast.Attribute)
                        and getattr(e.value, 'id', '') == 'self' and e.attr.endswith('_') and not e.attr.startswith('_')}
    return out

def attributes(cls, lib:str)->dict:
    "name -> description: the `_attributes` of the class and its package bases (its own last), then its properties."
    out = {k: v for c in reversed(cls.__mro__) if in_lib(c, lib) for k, v in (vars(c).get('_attributes') or {}).items()}
    props = {n: (inspect.getdoc(o) or '').split('\n')[0] for n, o in vars(cls).items() if isinstance(o, property) and n[0] != '_'}
    return out | {n: d for n, d in props.items() if n not in out}

def _message(call)->str:
    "The message of `raise E(...)`: its string, with `…` for what is computed."
    parts = []
    def walk(x):
        if isinstance(x, ast.Constant) and isinstance(x.value, str): parts.append(x.value)
        elif isinstance(x, ast.JoinedStr): parts.extend(v.value if isinstance(v, ast.Constant) else '…' for v in x.values)
        elif isinstance(x, ast.BinOp) and isinstance(x.op, ast.Add): walk(x.left); walk(x.right)
        else: parts.append('…')
    if isinstance(call, ast.Call) and call.args: walk(call.args[0])
    return re.sub(r'(…\s*)+', '… ', ''.join(parts)).strip()

def raises(f, lib:str, cls=None, seen=None)->dict:
    "{exception: [messages]} raised by `f` or by the package functions and methods it calls (4 calls deep)."
    seen, out = seen if seen is not None else set(), {}
    f = inspect.unwrap(getattr(f, 'fget', f))
    if id(f) in seen or len(seen) > 200 or (fn := _def(f)) is None: return out
    seen.add(id(f)); g = getattr(f, '__globals__', {})
    for n in own_nodes(fn, skip_try=True):
        if isinstance(n, ast.Raise) and n.exc is not None:
            e = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
            name = getattr(e, 'id', None) or getattr(e, 'attr', None)
            if name and name[0].isupper(): out.setdefault(name, []).append(_message(n.exc))
            continue
        callee, v = None, getattr(n, 'value', None)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name): callee = g.get(n.func.id)
        elif isinstance(n, ast.Attribute) and cls is not None and getattr(v, 'id', '') == 'self':
            callee = inspect.getattr_static(cls, n.attr, None)
        elif isinstance(n, ast.Attribute) and cls is not None and getattr(getattr(v, 'func', None), 'id', '') == 'super':
            later = cls.__mro__[next((i for i, c in enumerate(cls.__mro__) if f in vars(c).values()), 0) + 1:]
            callee = next((vars(b)[n.attr] for b in later if n.attr in vars(b)), None)
        elif isinstance(n, ast.Attribute) and inspect.isclass(g.get(getattr(v, 'id', ''))):
            callee = inspect.getattr_static(g[v.id], n.attr, None)
        callee = getattr(callee, '__func__', callee)
        if inspect.isfunction(callee) and callee.__module__.split('.')[0] == lib:
            for k, ms in raises(callee, lib, cls, seen).items(): out.setdefault(k, []).extend(ms)
    return {k: list(dict.fromkeys(m for m in ms if m)) for k, ms in out.items()}

def _obj(name:str):
    "The object of a dotted name (module, then attributes), and the class that holds it (or None)."
    parts = name.split('.')
    for i in range(len(parts), 0, -1):
        try: o = importlib.import_module('.'.join(parts[:i]))
        except ImportError: continue
        owner = None
        for p in parts[i:]: owner, o = o, getattr(o, p)
        return o, owner if inspect.isclass(owner) else None

def _docs(f)->dict:
    "parameter (and 'return') -> docment."
    try: return {k: (v or {}).get('docment') or '' for k, v in docments(inspect.unwrap(f), full=True, args_kwargs=True).items()}
    except Exception: return {}

def rst(text:str)->str:
    "Markdown text of a docstring or docment as reStructuredText: `code` kept, [t](url) -> t, `*_|\\` escaped elsewhere."
    parts = re.split(r'(`[^`]+`)', re.sub(r'\[`?([^\]`]+)`?\]\([^)]*\)', r'`\1`', str(text)))
    return ''.join(f'``{p[1:-1]}``' if len(p) > 1 and p[0] == p[-1] == '`' else re.sub(r'([\\*_|`])', r'\\\1', p) for p in parts)

def fields(app, what, name, obj, options, lines):
    "autodoc-process-docstring: the docstring as reST; Parameters, Returns, Attributes and Raises read from the code."
    lines[:] = [rst(l.strip()) for l in lines] if what in ('class', 'function', 'method', 'module', 'property') else []
    if what not in ('class', 'function', 'method') or what != 'class' and not inspect.isfunction(inspect.unwrap(getattr(obj, '__func__', obj))): return
    lib, (_, owner) = name.split('.')[0], _obj(name)
    docs, f = _docs(obj), obj if what != 'class' else next((vars(c)['__init__'] for c in obj.__mro__ if '__init__' in vars(c)), None)
    if owner is not None:   # X, y, sample_weight...: described once, in the constructor or fit
        shared = {k: v for g in (owner.__init__, getattr(owner, 'fit', None)) if g for k, v in _docs(g).items() if v}
        docs = {k: v or shared.get(k, '') for k, v in docs.items()}
    try: ps = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError): ps = []
    lines += [''] + [f':param {p.name}: {rst(docs.get(p.name, ""))}' for p in ps if p.name not in ('self', 'cls')]
    if what != 'class':
        kind = returns_what(obj)
        if kind == 'self': lines.append(':returns: the object itself (so that calls chain)')
        elif docs.get('return'): lines.append(f':returns: {rst(docs["return"])}')
    else:
        attrs = attributes(obj, lib)
        attrs |= {a: '' for a in sorted(assigned_attributes(obj, lib)) if a not in attrs}
        if attrs: lines += [':Attributes:'] + [f'    * **{rst(a)}** -- {rst(d)}' for a, d in attrs.items()]
    rs = raises(f, lib, owner or (obj if what == 'class' else None)) if f else {}
    lines += [f':raises {k}: ' + '; '.join(rst(m.rstrip('.')) for m in ms[:4]) + (' …' if len(ms) > 4 else '') for k, ms in rs.items()]

def page(lib:str, sections:dict=SECTIONS)->str:
    "reStructuredText of the API reference: the estimators' table, then per section each public module's names."
    api = public_api(lib); again = reexports(api)
    ests = [f'{m}.{n}' for m, ns in api.items() for n in ns if f'{m}.{n}' not in again and
            inspect.isclass(o := getattr(importlib.import_module(m), n)) and 'fit' in dir(o) and '__init__' in vars(o)]
    out = ['API reference', '=' * 13, '', '.. rst-class:: lead', '', f'   Every public name of ``{lib}`` (each module\'s '
           '``__all__``), by chapter. Parameters, return values, exceptions and fitted attributes are read from the code: '
           'signatures, docments, ``raise`` statements and the classes\' ``_attributes``.', '', 'Estimators', '-' * 10,
           '', '.. autosummary::', '', *[f'   {e}' for e in ests]]
    last = None
    for m, names in api.items():
        mod = importlib.import_module(m)
        if (sec := sections.get(notebook_of(mod)[:1], 'Other')) != last: out += ['', sec, '-' * len(sec)]; last = sec
        out += ['', m, '~' * len(m), '', rst((inspect.getdoc(mod) or '').split('\n\n')[0])]
        own = [n for n in names if f'{m}.{n}' not in again]
        out += ['', '.. autosummary::', '', *[f'   {m}.{n}' for n in own]]
        for n in own:
            o = getattr(mod, n)
            kind = 'class' if inspect.isclass(o) else 'function' if callable(o) else 'data'
            out += ['', f'.. auto{kind}:: {m}.{n}', *([f'   :{o}:' for o in ('members', 'undoc-members', 'inherited-members: '
                                                                         'object,list,tuple,dict,BaseException')] if kind == 'class' else [])]
        if len(own) < len(names):
            out += ['', '.. rst-class:: api-reexports', '', 'Re-exported here, documented under their home modules: ' + ', '.join(
                f':py:obj:`{n} <{again[f"{m}.{n}"]}>`' for n in names if f'{m}.{n}' in again) + '.']
    return '\n'.join(out) + '\n'

def setup(app):
    app.connect('autodoc-process-docstring', fields)
    return {'parallel_read_safe': True}
