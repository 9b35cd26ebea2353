"""The API reference page, generated at build time: every public name of the package (each module's `__all__`),
rendered by nbdev's own `show_doc` (signature, docstring, docments table), public methods of classes included.

`public_api` is also what tools/docs/check.py compares the rendered page against.
"""
import importlib, inspect, pkgutil

def modules(lib:str)->list:
    "The package's public modules, in name order (private `_x` modules and `__main__` skipped)."
    pkg = importlib.import_module(lib)
    names = sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, lib + '.')
                   if not any(p.startswith('_') for p in m.name.split('.')))
    return [importlib.import_module(n) for n in names]

def public_names(mod)->list:
    "A module's `__all__`; without one, the public names it defines itself."
    if hasattr(mod, '__all__'): return list(mod.__all__)
    return [n for n, o in vars(mod).items() if not n.startswith('_') and getattr(o, '__module__', None) == mod.__name__]

def public_api(lib:str)->dict:
    return {m.__name__: public_names(m) for m in modules(lib)}

def _methods(cls)->list:
    return [n for n, o in vars(cls).items()
            if not n.startswith('_') and (inspect.isfunction(o) or isinstance(o, (classmethod, staticmethod, property)))]

def _doc(obj, name:str, level:int)->str:
    "show_doc's markdown; constants (which show_doc documents by their type) as `NAME = value`."
    from nbdev.showdoc import show_doc
    if not callable(obj) and not isinstance(obj, property):
        return f"{'#'*level} {name}\n\n```python\n{name} = {repr(obj)[:300]}\n```"
    try: md = show_doc(obj, name=name, title_level=level)._repr_markdown_()
    except Exception as e: raise RuntimeError(f'docs build: show_doc({name}) failed for the API reference: {e}') from e
    if inspect.isclass(obj): md = md.replace(f'def {name}(', f'class {name}(', 1)
    return md

def page(lib:str, clean)->str:
    "MyST markdown of the API reference; `clean` post-processes each show_doc block."
    out = ['# API reference', '',
           f'Every public name of `{lib}`, module by module (each module\'s `__all__`), as `show_doc` renders it.']
    for mod in modules(lib):
        names = public_names(mod)
        if not names and hasattr(mod, '__path__'): continue  # a namespace-like package: its modules follow
        out += ['', f'## {mod.__name__}', '']
        first = (inspect.getdoc(mod) or '').strip().split('\n\n')[0]
        if first: out += [first, '']
        if not names: out += ['(no public names)']
        for n in names:
            obj = getattr(mod, n)
            out += [clean(_doc(obj, n, 3)), '']
            if inspect.isclass(obj):
                for m in _methods(obj):
                    out += [clean(_doc(getattr(obj, m), f'{n}.{m}', 4)), '']
    return '\n'.join(out) + '\n'
