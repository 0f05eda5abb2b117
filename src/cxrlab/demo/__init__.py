"""``cxrlab demo``: ``state`` (config, state, helpers) <- ``stages`` <- ``run`` (``run_demo``, ``summary``)."""
