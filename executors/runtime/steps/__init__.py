"""Built-in step types, one module each; every module exposes ``step_type``."""
