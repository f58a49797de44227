"""Fast constructors for the dataclass records made on the hot path (one per alert update).

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; for an
event of 19 fields that is half the cost of making it. :func:`maker` fills the instance's
``__dict__`` in one update instead: the same object (equal, same hash, still frozen), for
classes without ``__post_init__`` or slots, given every field positionally. A class
compiled by mypyc (``citycc.native``) has no ``__dict__`` and a constructor in C that is
faster still: :func:`maker` returns the class itself.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def reduce_record(obj: Any) -> tuple[Any, tuple[Any, ...]]:
    """``__reduce__`` of a frozen dataclass: pickled as its class and fields, and rebuilt by
    its constructor (pickle's default sets each field, which a compiled frozen class
    refuses)."""
    return type(obj), tuple(getattr(obj, f.name) for f in fields(obj))


def maker(cls: type[T]) -> Callable[..., T]:
    """``make(*values)`` == ``cls(*values)`` (every field, in order)."""
    if hasattr(cls, "__mypyc_attrs__"):   # a native class: its own constructor
        return cls
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: maker() needs a plain frozen dataclass")
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    new = object.__new__

    def make(*values: Any) -> T:
        if len(values) != len(names):
            raise TypeError(f"{cls.__name__} takes {len(names)} values, got {len(values)}")
        obj = new(cls)
        obj.__dict__.update(zip(names, values))
        return obj

    make.__doc__ = f"{cls.__name__}(*values), made without per-field setattr."
    return make
