"""Hyperparameter sweeps on Optuna: search spaces (:mod:`.space`), running a study
(:mod:`.study`) and its report (:mod:`.leaderboard`)."""

from motionfit.sweeps.leaderboard import TrialRow, leaderboard
from motionfit.sweeps.space import DEFAULT_SPACE, Param, SearchSpace, load_space, parse_space
from motionfit.sweeps.study import SweepResult, default_pruner, default_storage, run_sweep

__all__ = [
    "DEFAULT_SPACE",
    "Param",
    "SearchSpace",
    "SweepResult",
    "TrialRow",
    "default_pruner",
    "default_storage",
    "leaderboard",
    "load_space",
    "parse_space",
    "run_sweep",
]
