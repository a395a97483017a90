"""What the console works with: the same objects the management API's routers use.

The gateway builds them in its lifespan; the console is handed a function that returns them at
request time (today the FastAPI application's `state`), so it depends on their names only.
"""

from __future__ import annotations

from typing import Protocol

from gateway.callbacks import CallbackSender
from gateway.control import ControlPlane
from gateway.history.record import History
from gateway.login_throttle import LoginThrottle
from gateway.outbox import Outbox
from gateway.package_limits import PackageLimits

__all__ = ["Backend"]


class Backend(Protocol):
    control: ControlPlane
    history: History
    outbox: Outbox
    sender: CallbackSender
    login_throttle: LoginThrottle
    package_limits: PackageLimits
    admin_user: str
    admin_password: str
