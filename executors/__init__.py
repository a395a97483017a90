"""The executor: a gRPC server hosting the integration processes deployed to its runtime."""

import os

# gRPC reads GRPC_EXPERIMENTS once, when it loads, so this runs before any executor module
# imports grpc. Without its EventEngine client and listener, the thread that polls the
# completion queue does the socket I/O itself: one thread hand-off fewer per stream message
# (an idle round trip 180 -> 135 µs; docs/benchmark.md). An operator's setting wins.
os.environ.setdefault("GRPC_EXPERIMENTS", "-event_engine_client,-event_engine_listener")
