"""Declarative neuron filters, shared by the config (``neuron_filter:`` of a dataset)
and the API (:meth:`strflow.dataset.NeuralDataset.select_pop_by_filter`).

A filter maps a neuron-metadata column to a condition: ``{in: [values]}``,
``{min: x}`` and/or ``{max: x}`` (inclusive).  A neuron passes when every condition
holds; a missing or null value fails.  Example, the published NS1 selection (73 of 119
units, Harper et al. 2016)::

    neuron_filter:
      single_t: {in: [Yes, Maybe]}
      depth_um: {min: 0}
"""

from __future__ import annotations

import math

NS1_VALID73 = {"single_t": {"in": ["Yes", "Maybe"]}, "depth_um": {"min": 0}}


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
