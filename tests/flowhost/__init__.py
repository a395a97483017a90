"""Tests of the flowhost tools: the CLI, the dev cluster, the package as installed."""
