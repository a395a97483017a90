"""Message brokers for the `publish` and `request` steps: one adapter per kind, one pool.

``interface.py`` is what a step sees (``Broker``, ``Message``, ``Reply``); ``nats.py``,
``amqp.py``, ``kafka.py`` and ``redis_streams.py`` are the adapters; ``pool.py`` keeps one
connection per broker URL and egress rule on this executor (``BROKERS``); ``address.py`` checks
the host against the runtime's egress policy; ``destinations.py`` expands destination patterns
(``orders.{prefix}.get-order.{suffix}``).
"""
