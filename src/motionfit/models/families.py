"""Importing this module registers every model family."""

from motionfit.models import cnn_zoo, hf_recent_zoo, hf_zoo, tv_zoo  # noqa: F401
