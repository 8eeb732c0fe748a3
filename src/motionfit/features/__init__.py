"""Cached frozen-backbone features and the probes trained on them."""
