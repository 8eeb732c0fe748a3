"""Evaluation of trained runs: multi-view inference, metrics, plots and result files."""

from motionfit.evaluation.evaluate import align_labels, eval_dir, evaluate_run

__all__ = ["align_labels", "eval_dir", "evaluate_run"]
