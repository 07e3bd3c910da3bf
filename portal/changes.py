"""A count of the settings and catalog changes made in this process.

Caches of what those settings produce (visitors' widget pages) include it in their keys, so a
change made through this process shows at once; other processes see it when their cached
copies expire.
"""

from __future__ import annotations

import itertools

_counter = itertools.count(1)
_generation = 0


def changed() -> None:
    """Note a change of a tenant's settings, billing pages or catalog."""
    global _generation
    _generation = next(_counter)


def generation() -> int:
    return _generation
