"""numpy values as the plain Python values options are typed as (a sweep's np.arange and np.linspace values).

Kept apart from the checks that need GDAL: a training node without GDAL's bindings builds its options through it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """numpy scalars and 1-D arrays (a sweep's np.arange, np.linspace values) as the Python numbers and lists they
    stand for, inside lists, tuples and dicts too: options typed int or float refused np.int64(1) with "must be an
    integer, got 1", a message that showed nothing wrong."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.tolist()
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def plain_fields(options: Any) -> None:
    """Every field of an options dataclass made `plain` in place (frozen ones too)."""
    for f in fields(options):
        value = getattr(options, f.name)
        if isinstance(value, np.generic | np.ndarray | list | tuple | dict):
            object.__setattr__(options, f.name, plain(value))
