"""Operator configuration: values an operator sets per runtime (and per Flow tenant), secrets
encrypted at rest, served to the Flow path from memory (docs/operations.md, "Operator
configuration")."""
