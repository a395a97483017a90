"""Triggers: a package's processes started by a webhook, a schedule or a broker message.

They run at the gateway and produce executions exactly as Flow requests do (the executor pool,
the history, the listeners' pause): `run.py` runs one; `webhooks.py` serves
`POST /hooks/<runtime>/<package>/<name>`, `schedule.py` fires due times once across gateways
(`fires.py`, a lease row per due time), `subscribe.py` consumes NATS and RabbitMQ messages.
"""
