"""The executor: a gRPC server hosting the integration processes deployed to its runtime."""
