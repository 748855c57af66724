"""Declarative neuron filters, shared by the config (``neuron_filter:`` of a dataset)
and the API (:meth:`strflow.dataset.NeuralDataset.select_pop_by_filter`).

A filter maps a neuron-metadata column to a condition: ``{in: [values]}``,
``{min: x}`` and/or ``{max: x}`` (inclusive).  A neuron passes when every condition
holds; a missing or null value fails.  Example, the published NS1 selection (73 of 119
units, Harper et al. 2016), as shipped on the ``ns1`` entry of ``config.yaml``::

    neuron_filter:
      single_t: {in: ["Yes", "Maybe"]}   # quoted: YAML 1.1 reads a bare Yes as true
      depth_um: {min: 0}

:func:`validate` refuses, with the valid choices, an unknown operator, an unknown
column and a value whose type cannot match the column (a boolean ``True`` against a
string column is what an unquoted ``Yes`` becomes), so a typo never selects silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa

OPERATORS = ("in", "min", "max")


class FilterError(ValueError):
    """A neuron filter that cannot mean what was written."""


def _kind(dtype: pa.DataType) -> str:
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return "number"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    return "other"


def _value_kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _yaml_hint(value) -> str:
    if isinstance(value, bool):
        return (" (YAML 1.1 reads unquoted Yes/No/On/Off/True/False as booleans: "
                f"write the string in quotes, e.g. \"{'Yes' if value else 'No'}\")")
    return ""


def validate(spec, columns: pa.Schema | Mapping[str, pa.DataType] | None = None, where: str = "neuron_filter") -> None:
    """Raise :class:`FilterError` (or ``KeyError`` for an unknown column) unless ``spec``
    is a well-formed filter over ``columns`` (a schema or ``{name: arrow type}``; None
    checks the operators only)."""
    if not isinstance(spec, Mapping):
        raise FilterError(f"{where}: expected a mapping column -> condition, got {type(spec).__name__}")
    types = None
    if columns is not None:
        types = {f.name: f.type for f in columns} if isinstance(columns, pa.Schema) else dict(columns)
    for column, cond in spec.items():
        here = f"{where}.{column}"
        if types is not None and column not in types:
            raise KeyError(f"{here}: unknown neuron column {column!r}; valid columns: {', '.join(sorted(types))}")
        if not isinstance(cond, Mapping) or not cond:
            raise FilterError(f"{here}: expected a condition such as {{in: [...]}}, {{min: x}} or {{max: x}}, got {cond!r}")
        unknown = [op for op in cond if op not in OPERATORS]
        if unknown:
            raise FilterError(f"{here}: unknown operator(s) {unknown}; valid operators: {', '.join(OPERATORS)}")
        kind = _kind(types[column]) if types is not None else None
        if "in" in cond:
            values = cond["in"]
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)):
                raise FilterError(f"{here}: 'in' takes a list of values, got {values!r}")
            if not values:
                raise FilterError(f"{here}: 'in' has an empty list, which no neuron can pass")
            if kind in ("string", "number", "boolean"):
                for v in values:
                    if _value_kind(v) != kind:
                        raise FilterError(
                            f"{here}: value {v!r} is a {_value_kind(v)} but column {column!r} holds {kind}s, "
                            f"so it can never match{_yaml_hint(v)}"
                        )
        for op in ("min", "max"):
            if op in cond:
                bound = cond[op]
                if _value_kind(bound) != "number":
                    raise FilterError(f"{here}: '{op}' takes a number, got {bound!r}{_yaml_hint(bound)}")
                if kind not in (None, "number"):
                    raise FilterError(f"{here}: '{op}' compares numbers but column {column!r} holds {kind}s")


def check(row: dict, spec: dict) -> str:
    """'' if the neuron passes, else the reason it fails."""
    for column, cond in spec.items():
        value = row.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"neuron filter: {column} missing"
        if "in" in cond and value not in cond["in"]:
            return f"neuron filter: {column}={value!r} not in {list(cond['in'])}"
        if "min" in cond and value < cond["min"]:
            return f"neuron filter: {column}={value} < {cond['min']}"
        if "max" in cond and value > cond["max"]:
            return f"neuron filter: {column}={value} > {cond['max']}"
    return ""


# -- checks behind the selection methods of strflow.dataset.NeuralDataset ---------------
def _check_indices(idx: Sequence[int], size: int, what: str) -> list[int]:
    out = []
    for i in idx:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{what} indices must be integers, got {i!r}")
        if not 0 <= i < size:
            raise IndexError(f"{what} index {i} out of range: valid indices are 0..{size - 1} ({size} {what}s)")
        out.append(int(i))
    return out


def _check_key(key: str, metas: list[dict], what: str) -> None:
    known = set().union(*metas) if metas else set()
    if key not in known:
        raise KeyError(f"unknown {what} attribute {key!r}; valid attributes: {', '.join(sorted(known))}")


def _values(metas: list[dict], key: str, limit: int = 20) -> list:
    values = sorted({str(m[key]) for m in metas if key in m})
    return values[:limit] + (["..."] if len(values) > limit else [])


def _nonempty(found: list[int], what: str, present: list | None = None) -> list[int]:
    if not found:
        hint = f" (values present: {', '.join(present)})" if present else ""
        raise ValueError(f"{what}{hint}; the selection was left unchanged")
    return found


def _safe(fn: Callable[[dict], bool], meta: dict) -> bool:
    try:
        return bool(fn(meta))
    except (KeyError, TypeError):
        return False
