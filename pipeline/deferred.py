"""Deferred imports: a module placed in `sys.modules` that runs the real import on first attribute access.

Haystack imports torch when it is installed (`haystack.utils.device`, at `import haystack`), although it uses it only
to pick a device for torch models. With torch deferred, a process that never runs a torch model (`talks ask` with the
ONNX encoder, `talks list`) does not pay the ~1.5 s CPU of importing it; one that does gets the real module on first
use, transparently. `importlib.util.LazyLoader` does not fit: on Python 3.11 the `import torch` statement itself reads
the module's `__spec__`, which makes LazyLoader run the import at once.

    defer_import("torch")
    import torch            # cheap: a stand-in
    torch.cuda.is_available()  # the real import happens here
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()


class DeferredModule(types.ModuleType):
    """Stands in `sys.modules` for a module not imported yet; any attribute it lacks (including `__path__`, which
    importing a submodule reads) imports the real module, which then replaces it in `sys.modules`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(load(self), name)


def load(stand_in: DeferredModule) -> types.ModuleType:
    """The real module behind `stand_in`, imported now if it is not yet."""
    name = stand_in.__name__
    with _LOCK:
        current = sys.modules.get(name)
        if current is stand_in or current is None:
            sys.modules.pop(name, None)
            try:
                current = importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, stand_in)
                raise
        return current


class _Existing(importlib.abc.Loader):
    """Loads a module that is already in `sys.modules` as that very module (nothing runs again)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return sys.modules[spec.name]

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _SideEffectFinder(importlib.abc.MetaPathFinder):
    """`import torch._C` while torch is deferred reads the stand-in's `__path__`, which imports the real torch, and
    with it `torch._C`, *after* the import system checked `sys.modules`; without this finder it would then load
    `torch._C` a second time (an extension module initialised twice aborts the process). A module that appeared in
    `sys.modules` by then is handed back as it is."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        module = sys.modules.get(fullname)
        if module is None or isinstance(module, DeferredModule):
            return None
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        return importlib.util.spec_from_loader(fullname, _Existing(), origin=origin)


_FINDER = _SideEffectFinder()


def defer_import(name: str) -> None:
    """Puts a stand-in for the top-level module `name` in `sys.modules`, unless it is imported already or not
    installed (then `import name` behaves as usual)."""
    with _LOCK:
        if name in sys.modules or "." in name:
            return
        spec = importlib.util.find_spec(name)
        if spec is None:
            return
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        stand_in = DeferredModule(name)
        stand_in.__spec__ = spec  # read by the import statement; its `_initializing` is unset: not mid-import
        stand_in.__file__ = spec.origin
        sys.modules[name] = stand_in


def is_loaded(name: str) -> bool:
    """Whether module `name` is really imported (not only deferred)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, DeferredModule)
