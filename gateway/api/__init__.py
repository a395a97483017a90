"""The management API under /api/: packages, runtimes and executors, runtime users."""
