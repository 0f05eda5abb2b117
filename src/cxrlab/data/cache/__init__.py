"""Preprocessed-image cache: ``store.build_cache`` / ``store.open_cache`` over reusable segments."""
