"""Training: the Lightning task, data module, callbacks, and the ``fit`` entry point."""
