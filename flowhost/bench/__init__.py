"""`flowhost bench`: flowhost's quote action against baselines, interleaved in one run."""
