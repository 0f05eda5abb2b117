"""Synthetic chest films for tests and the demo (``generate.make_synthetic_dataset``)."""
