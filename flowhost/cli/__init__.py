"""The `flowhost` command: run the cluster and drive its management API."""
