"""Running a sweep: one Optuna study whose trials are motionfit training runs.

Each trial draws the searched fields (TPE, or a grid), trains ``OUT/trials/NNNN`` with them and
reports the validation metric (``train.monitor``) after every epoch, so Optuna's median pruner
stops trials that trail the earlier ones. The objective is the run's best monitored value.

The study lives in an RDB storage: ``sqlite:///OUT/study.db`` by default, so a sweep stopped
at any point continues when the same command is run again (same ``--study`` and
``--storage``). Several workers share a study by running that command at the same time:
processes on one machine through the SQLite file, machines through a PostgreSQL database
(``--storage postgresql://user:password@host/db``, with ``psycopg2-binary`` installed); trial
numbers are unique in a study, so workers can share ``OUT`` or each use their own.

``trials`` is the study's total: a worker starts trials while fewer than ``trials`` are
complete, pruned or running. A failing trial (an error, or a worker killed during it, which a
heartbeat detects after a grace period) is recorded as failed with its error and does not
count; a worker stops after :data:`MAX_CONSECUTIVE_FAILURES` failures in a row.

SIGTERM or SIGINT stops the worker at the running trial's next step (its run saves
``last.ckpt``, see :func:`motionfit.train.runner.fit_or_interrupt`): the trial is recorded as
failed ("interrupted"), a trial with the same values is queued that resumes its run directory
exactly, and the worker ends with :class:`~motionfit.stopping.Interrupted` (exit 143 or 130).
The next worker to start (the same command again) takes the queued trial first.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning as L
import optuna
from optuna.trial import FrozenTrial, TrialState

from motionfit.config import Config, dump_config
from motionfit.errors import ConfigError, RunError
from motionfit.stopping import Interrupted, StopRequest
from motionfit.sweeps.leaderboard import (
    ERROR,
    RUN_DIR,
    TrialRow,
    leaderboard,
    trial_scores,
    write_importance_plot,
    write_leaderboard,
)
from motionfit.sweeps.space import SearchSpace, apply_params, check_space
from motionfit.train.multi_label import refuse_multi_label

MAX_CONSECUTIVE_FAILURES = 3
HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180  # a RUNNING trial without heartbeat for this long is marked failed
LEADERBOARD = "leaderboard.csv"
IMPORTANCE_PLOT = "importance.png"
BEST_CONFIG = "best_config.yaml"
TRIALS_DIR = "trials"
_SPACE_ATTR = "space"
_RESUME_ATTR = "resume_run_dir"  # a queued trial continues this interrupted trial's run
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass
class SweepResult:
    """What a sweep worker leaves behind (files under ``out``) and the study's trials."""

    study_name: str
    storage: str
    monitor: str
    rows: list[TrialRow]
    leaderboard: Path
    best_config: Path | None
    importance_plot: Path | None
    grid_exhausted: bool


def default_storage(out: str | Path) -> str:
    """The SQLite database a sweep in ``out`` uses unless told otherwise."""
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def default_pruner(epochs: int) -> optuna.pruners.BasePruner:
    """Median pruning: from the 4th trial on, stop a trial whose validation metric after an
    epoch is worse than the median of earlier trials at that epoch; never in the first fifth
    of the epochs (warmup and early noise)."""
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, epochs // 5))


def run_sweep(
    base: Config,
    space: SearchSpace,
    out: str | Path,
    *,
    trials: int,
    storage: str | None = None,
    study_name: str = "sweep",
    sampler: Literal["tpe", "grid"] = "tpe",
    pruner: optuna.pruners.BasePruner | None = None,
    seed: int | None = None,
    on_trial: Callable[[TrialRow], None] | None = None,
) -> SweepResult:
    """Run (or continue) the sweep of ``space`` around ``base`` until the study has ``trials``
    trials that are complete, pruned or running, then write ``leaderboard.csv``,
    ``importance.png`` and ``best_config.yaml`` (a config ``motionfit train`` accepts) in ``out``.

    ``pruner`` defaults to :func:`default_pruner`; ``seed`` seeds the sampler (leave it unset
    when several workers share a study, or they draw the same values). ``on_trial`` is called
    with each finished trial's row.
    """
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    refuse_multi_label(base, "sweep")
    if base.output.save_top_k < 1:
        raise ConfigError("a sweep needs output.save_top_k >= 1 (the best score of each trial)")
    check_space(space, base)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(out)
    monitor = base.train.monitor
    search = _sampler(sampler, space, seed)
    study = _open_study(
        storage,
        study_name,
        space,
        direction="minimize" if "loss" in monitor else "maximize",
        sampler=search,
        pruner=pruner or default_pruner(base.train.epochs),
    )
    trials_dir = out / TRIALS_DIR
    if not study.trials and trials_dir.is_dir() and any(trials_dir.iterdir()):
        raise RunError(
            f"{trials_dir} holds runs of another study; choose another --out, or pass the "
            "--study and --storage of that sweep to continue it"
        )
    stop = _StopRule(trials, on_trial)
    objective = _Objective(base, space, trials_dir, monitor)
    signals = StopRequest()  # between trials; a trial's run catches its own
    with signals.installed():
        if _counted(study) < trials and not _grid_done(search, study):
            study.optimize(objective, catch=(Exception,), callbacks=[stop, signals_stop(signals)])
    if objective.interrupted is not None:
        raise objective.interrupted
    signals.raise_if_pending("between trials; run the same command again to continue the sweep")
    rows = leaderboard(study)
    result = SweepResult(
        study_name=study_name,
        storage=storage,
        monitor=monitor,
        rows=rows,
        leaderboard=write_leaderboard(
            rows, out / LEADERBOARD, monitor, [p.key for p in space.params]
        ),
        best_config=_write_best_config(study, base, out / BEST_CONFIG, monitor),
        importance_plot=write_importance_plot(study, out / IMPORTANCE_PLOT),
        grid_exhausted=_grid_done(search, study),
    )
    if stop.failures >= MAX_CONSECUTIVE_FAILURES:
        raise RunError(
            f"{stop.failures} trials failed in a row, the last with: {stop.last_error}; "
            f"the leaderboard is in {result.leaderboard}"
        )
    return result


class _Objective:
    """Train one trial's run and return its best monitored value; reports every validation
    epoch to the trial and stops the run when the pruner says so."""

    def __init__(self, base: Config, space: SearchSpace, trials_dir: Path, monitor: str) -> None:
        self.base = base
        self.space = space
        self.trials_dir = trials_dir
        self.monitor = monitor
        self.interrupted: Interrupted | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        from motionfit.train.fit import train

        resumed = trial.user_attrs.get(_RESUME_ATTR)
        run_dir = Path(resumed) if resumed else self.trials_dir / f"{trial.number:04d}"
        trial.set_user_attr(RUN_DIR, str(run_dir))
        pruning = PruningCallback(trial, self.monitor)
        try:
            params = self.space.suggest(trial)
            config = apply_params(self.base, params, f"trial {trial.number}")
            resume = bool(resumed) and (run_dir / "checkpoints" / "last.ckpt").is_file()
            result = train(config, run_dir, resume=resume, progress=False, callbacks=[pruning])
            if result.best_score is None:
                raise RunError(f"{run_dir}: the run logged no {self.monitor}")
            return result.best_score
        except optuna.TrialPruned:
            raise
        except Interrupted as exc:
            self.interrupted = exc
            trial.set_user_attr(ERROR, f"interrupted: {exc}"[:500])
            trial.study.enqueue_trial(params, user_attrs={_RESUME_ATTR: str(run_dir)})
            trial.study.stop()
            return math.nan  # a failed trial, without Optuna logging a traceback
        except Exception as exc:
            trial.set_user_attr(ERROR, " ".join(f"{type(exc).__name__}: {exc}".split())[:500])
            raise
        finally:
            for key, value in trial_scores(run_dir).items():
                trial.set_user_attr(key, value)


class PruningCallback(L.Callback):
    """Report the monitored validation metric to an Optuna trial after every epoch and stop the
    run with :class:`optuna.TrialPruned` when the trial's pruner says so (one process per
    trial: not for DDP trials)."""

    # Hand-written: optuna-integration's PyTorchLightningPruningCallback runs on Lightning 2.6
    # but prunes in on_validation_end, before EpochMetricsWriter records that epoch's row.

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Report this epoch's validation value; prune if the pruner says so."""
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.monitor} = {value:.4f}")


class _StopRule:
    """Optuna callback: stop this worker once the study has enough trials, or after too many
    failures in a row; pass each finished trial's leaderboard row on."""

    def __init__(self, trials: int, on_trial: Callable[[TrialRow], None] | None) -> None:
        self.trials = trials
        self.on_trial = on_trial
        self.failures = 0
        self.last_error = ""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            self.failures += 1
            self.last_error = str(trial.user_attrs.get(ERROR, "unknown error"))
        else:
            self.failures = 0
        if self.on_trial is not None:
            self.on_trial(next(r for r in leaderboard(study) if r.number == trial.number))
        if self.failures >= MAX_CONSECUTIVE_FAILURES or _counted(study) >= self.trials:
            study.stop()


def signals_stop(signals: StopRequest) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna callback: stop the study after a trial when a stop signal came meanwhile."""

    def check(study: optuna.Study, trial: FrozenTrial) -> None:
        del trial
        if signals.pending:
            study.stop()

    return check


def _counted(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=_COUNTED))


def _grid_done(sampler: optuna.samplers.BaseSampler, study: optuna.Study) -> bool:
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise ConfigError(f"unknown sampler '{name}' (tpe, grid)")


def _open_study(
    storage_url: str,
    name: str,
    space: SearchSpace,
    *,
    direction: Literal["minimize", "maximize"],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study, or load it and check it searches the same space the same way."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage_url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                storage_url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
            )
    except Exception as exc:  # SQLAlchemy: bad URL, missing driver, unreachable server
        raise ConfigError(f"--storage {storage_url}: cannot open ({exc})") from exc
    existing = name in optuna.get_all_study_names(storage)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    wanted = space.to_dict()
    if not existing:
        study.set_user_attr(_SPACE_ATTR, wanted)
    elif study.user_attrs.get(_SPACE_ATTR) != wanted:
        raise ConfigError(
            f"study '{name}' in {storage_url} searches another space; use another --study"
        )
    elif study.direction.name.lower() != direction:
        raise ConfigError(f"study '{name}' in {storage_url} was made to {study.direction.name}")
    return study


def _write_best_config(study: optuna.Study, base: Config, path: Path, monitor: str) -> Path | None:
    """``base`` with the best complete trial's values, as a YAML config; None without one."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    config = apply_params(base, dict(best.params), f"trial {best.number}")
    config.description = (
        f"Best trial ({best.number}) of sweep '{study.study_name}': {monitor} = {best.value:.4f}"
    )
    dump_config(config, path)
    return path
