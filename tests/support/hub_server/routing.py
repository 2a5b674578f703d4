"""How a protocol area declares its endpoints: a path pattern, the methods, and the function that answers.

A route function is called as `fn(handler, method, query, fault, **path_params)`; `REPO` in a pattern
stands for `OWNER/NAME` (parameters `ns` and `name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Route = tuple[re.Pattern[str], tuple[str, ...], Callable[..., None]]
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"


def route(pattern: str, methods: tuple[str, ...], handler: Callable[..., None]) -> Route:
    return re.compile(pattern.replace("REPO", _REPO)), methods, handler
