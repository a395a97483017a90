"""The gateway: one shared web server for many runtimes, and the cluster's control plane."""
