"""What the console works with: the same running gateway the management API's routers use.

The console is handed a function that returns the running gateway at request time (it raises a
503 `not_running` before the gateway has started and after it stopped).
"""

from __future__ import annotations

from gateway.running import Gateway as Backend

__all__ = ["Backend"]
