"""WAIT and callbacks: what Flow is owed when it cannot wait, and its delivery.

`policy` refuses a callbackUri that could never be delivered while Flow still waits for the
answer; `waiting` records the owed callback in the `outbox` before Flow hears `WAIT`, then follows
the execution to its end; `sender` delivers the outbox with retries. The management API over it
is `gateway/api/callbacks.py`, with the other routers.
"""
