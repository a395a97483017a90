"""The operator's console: server-rendered pages at /console for the admin (docs/operations.md,
"Console"). `mount_console` is its one hook into the gateway."""

from gateway.console.mount import mount_console

__all__ = ["mount_console"]
