"""The gateway's /metrics: Flow request counts counted on the hot path as plain ints, and the
cluster's state (executors, WAITs, callbacks, history) read when Prometheus scrapes."""
