"""Lazy public names for a package (PEP 562), written once for ``docpipe`` and its subpackages."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any], public: Collection[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: each name is imported from its module on first use.

    Why lazily: ``import docpipe`` must cost almost nothing, and importing one module of a
    subpackage must not import its siblings (ingest's service creates a child Logger that has to
    come after the handler's own).

    Args:
        package: the package's ``__name__``, for the error message.
        exports: public name -> the module that defines it.
        namespace: the package's ``globals()``; a name once imported is cached there.
        public: the package's ``__all__``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
