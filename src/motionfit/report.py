"""One self-contained HTML report of one or more runs (plots embedded as base64 PNG).

Per run: clean-train, validation and test accuracy and the overfitting gap at the best epoch,
learning curves, the test confusion matrix and its most frequent confusions; for all runs: one
table side by side, one plot of their curves, and the settings that differ between them.

A multi-label run shows mAP (macro) where a single-label run shows top-1 (marked "mAP") and its
per-class AP table instead of the confusion matrix.

Test results come from ``RUN_DIR/eval/metrics.json`` (written by ``motionfit evaluate`` or the
final test of ``motionfit train``); with ``test=SOURCE`` every run is evaluated on it first
(which rewrites ``RUN_DIR/eval``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from motionfit import __version__
from motionfit.atomic import atomic_write_text
from motionfit.config import Config, load_config
from motionfit.data.augment import registered
from motionfit.data.records import read_records
from motionfit.evaluation import align_labels, eval_dir, evaluate_run
from motionfit.evaluation.evaluate import METRICS_JSON
from motionfit.evaluation.plots import (
    confusion_figure,
    learning_curves_figure,
    png_bytes,
    runs_figure,
)
from motionfit.run import RunPaths, load_run, metric_columns, read_metrics, resolve_run

HEADLINE_KEYS = (
    "model.name",
    "model.pretrained",
    "sampling.num_frames",
    "sampling.stride",
    "augment.crop_size",
    "augment.mix.mixup_alpha",
    "augment.mix.cutmix_alpha",
    "optim.lr",
    "train.epochs",
    "train.batch_size",
    "train.label_smoothing",
)
WORST_CLASSES = 10
TOP_CONFUSIONS = 10


@dataclass
class RunSummary:
    """What the report shows of one run.

    ``best_epoch`` is the epoch with the highest ``val_top1`` (the weights the run keeps);
    ``clean_train``, ``val_top1`` and ``gap = clean_train - val_top1`` are read at that epoch
    (a multi-label run: ``val_map`` and ``clean_train_map``, mAP in place of top-1).
    ``test`` is the run's ``eval/metrics.json`` when there is one.
    """

    name: str
    paths: RunPaths
    config: Config
    history: dict[str, list[float]]
    best_epoch: int | None
    clean_train: float | None
    val_top1: float | None
    test: dict[str, Any] | None

    @property
    def gap(self) -> float | None:
        """Clean-train minus validation accuracy at the best epoch."""
        if self.clean_train is None or self.val_top1 is None:
            return None
        return self.clean_train - self.val_top1

    @property
    def multi_label(self) -> bool:
        """True for a multi-label run (its scores are mAP, not accuracy)."""
        return self.config.data.multi_label


def summarize_run(run_dir: str | Path, name: str = "") -> RunSummary:
    """Read the config, history and test metrics of a run directory."""
    paths, _ = resolve_run(run_dir)
    history = metric_columns(read_metrics(paths.metrics))
    config = load_config(paths.config)
    val_column, clean_column = (
        ("val_map", "clean_train_map")
        if config.data.multi_label
        else ("val_top1", "clean_train_acc")
    )
    val = history.get(val_column, [])
    finite = [(v, i) for i, v in enumerate(val) if math.isfinite(v)]
    best = max(finite, key=lambda item: (item[0], -item[1]))[1] if finite else None
    test_file = eval_dir(paths) / METRICS_JSON
    return RunSummary(
        name=name or paths.root.name,
        paths=paths,
        config=config,
        history=history,
        best_epoch=int(history["epoch"][best]) if best is not None else None,
        clean_train=_at(history, clean_column, best),
        val_top1=_at(history, val_column, best),
        test=json.loads(test_file.read_text()) if test_file.is_file() else None,
    )


def config_rows(configs: Sequence[Config]) -> list[tuple[str, list[str], bool]]:
    """``(key, value per run, differs)`` for the headline settings and every other setting
    that differs between the runs."""
    flat = [_flatten(c.model_dump(mode="json")) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    rows = []
    for key in keys:
        values = [_show(f.get(key)) for f in flat]
        differs = len(set(values)) > 1
        if differs or key in HEADLINE_KEYS:
            rows.append((key, values, differs))
    rows.sort(key=lambda row: (not row[2], keys.index(row[0])))
    return rows


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    test: str | None = None,
    clips: int | None = None,
    crops: int | None = None,
    num_workers: int | None = None,
) -> Path:
    """Write the HTML report of ``run_dirs`` to ``out``; with ``test`` each run is first
    evaluated on that data (``clips``/``crops``/``num_workers`` as in ``evaluate_run``)."""
    names = _unique_names([Path(d) for d in run_dirs])
    if test is not None:
        from motionfit.resources import check_eval_memory

        records, labels = read_records(test)
        loaded = [load_run(run_dir) for run_dir in run_dirs]
        for run in loaded:  # every run is checked before the first is scored
            check_eval_memory(run.config, clips, crops)
        for run in loaded:
            evaluate_run(
                run,
                align_labels(records, labels, run.labels, test),
                clips=clips,
                crops=crops,
                num_workers=num_workers,
                data_name=test,
            )
    runs = [summarize_run(d, n) for d, n in zip(run_dirs, names, strict=True)]
    return atomic_write_text(out, render_html(runs))


def render_html(runs: Sequence[RunSummary]) -> str:
    """The report page for ``runs``."""
    with_history = {r.name: r.history for r in runs if r.history.get("epoch")}
    sections = []
    for run in runs:
        test = run.test or {}
        worst = sorted(test.get("per_class", []), key=lambda c: (c["recall"], c["name"]))
        sections.append(
            {
                "run": run,
                "curves": _png(learning_curves_figure(run.history, run.name))
                if run.history.get("epoch")
                else None,
                "confusion": _png(
                    confusion_figure(test["confusion"], test["labels"], _confusion_title(test))
                )
                if test.get("confusion")
                else None,
                "confusions": test.get("top_confusions", [])[:TOP_CONFUSIONS],
                "worst": [c for c in worst if c["support"] > 0][:WORST_CLASSES],
            }
        )
    template = _environment().from_string(TEMPLATE)
    return template.render(
        runs=runs,
        sections=sections,
        comparison=_png(runs_figure(with_history)) if with_history else None,
        settings=config_rows([r.config for r in runs]),
        test_score=_test_score,
        best_val=_best([r.val_top1 for r in runs]),
        best_test=_best([_test_score(r.test or {}) for r in runs]),
        version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _test_score(test: dict[str, Any]) -> float | None:
    """A test's headline score: top-1, or mAP (macro) of a multi-label run."""
    return test.get("map_macro") if test.get("multi_label") else test.get("top1")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: "–" if v is None or not math.isfinite(v) else f"{v:.1%}"
    env.filters["pp"] = lambda v: "–" if v is None or not math.isfinite(v) else f"{v * 100:+.1f} pt"
    return env


def _png(fig: Any) -> str:
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def _confusion_title(test: dict[str, Any]) -> str:
    views = f"{test.get('clips', '?')} clips x {test.get('crops', '?')} crops"
    return f"test confusion ({test.get('data') or 'test data'}, {views}), row-normalized"


def _best(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return max(finite) if len(finite) > 1 else None


def _at(history: dict[str, list[float]], column: str, row: int | None) -> float | None:
    if row is None or column not in history:
        return None
    value = history[column][row]
    return value if math.isfinite(value) else None


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``section.field`` -> value (``augment.NAME.field`` for an augmentation's section)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        nested = prefix == "" or (prefix == "augment." and key in registered())
        if isinstance(value, dict) and value and nested:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _unique_names(dirs: Sequence[Path]) -> list[str]:
    """Run folder names, with parent folders added until they are unique."""
    depth = 1
    while True:
        names = ["/".join(d.resolve().parts[-depth:]) for d in dirs]
        if len(set(names)) == len(names) or depth >= max(len(d.resolve().parts) for d in dirs):
            return names
        depth += 1


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>motionfit report: {{ runs | map(attribute='name') | join(', ') }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1200px; padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 2px; }
h2 { font-size: 18px; margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f5f5f7; } td.l, th.l { text-align: left; }
tr.diff td { background: #fff8e1; } .best { font-weight: 700; }
.gap-high { color: #b00020; font-weight: 600; } .muted { color: #888; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.wide { overflow-x: auto; }
.grid { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
</style></head><body>
<h1>motionfit report</h1>
<p class="meta">{{ runs | length }} run(s) · motionfit {{ version }} · {{ created }}</p>

<h2>Runs side by side</h2>
<div class="wide"><table>
<tr><th class="l">run</th><th class="l">model</th><th>epochs</th><th>best epoch</th>
<th>clean-train acc</th><th>val top-1</th><th>gap (clean − val)</th><th>test top-1</th>
<th>test top-5</th><th>test mean class acc</th><th>test videos</th><th class="l">test data</th>
</tr>
{% for r in runs %}{% set t = r.test or {} %}
<tr><td class="l">{{ r.name }}</td><td class="l">{{ r.config.model.name }}</td>
<td>{{ r.history.get('epoch', []) | length }}</td>
<td>{{ r.best_epoch if r.best_epoch is not none else '–' }}</td>
<td>{{ r.clean_train | pct }}</td>
<td class="{{ 'best' if best_val is not none and r.val_top1 == best_val }}">
{{- r.val_top1 | pct }}{{ ' mAP' if r.multi_label }}</td>
<td class="{{ 'gap-high' if r.gap is not none and r.gap > 0.1 }}">{{ r.gap | pp }}</td>
<td class="{{ 'best' if best_test is not none and test_score(t) == best_test }}">
{{- test_score(t) | pct }}{{ ' mAP' if r.multi_label }}</td>
<td>{{ t.get('top5') | pct }}</td><td>{{ t.get('mean_class_accuracy') | pct }}</td>
<td>{{ t.get('num_videos', '–') }}</td><td class="l">{{ t.get('data') or '–' }}</td></tr>
{% endfor %}</table></div>
<p class="muted">A multi-label run shows mAP (macro) in the top-1 columns; its other columns are
not defined (–). Accuracies at the best validation epoch (the weights the run keeps). Clean-train
= training videos scored with the evaluation transforms; the gap measures overfitting.</p>

{% if comparison %}<h3>Learning curves of all runs</h3>
<img alt="validation and clean-train accuracy of all runs"
     src="data:image/png;base64,{{ comparison }}">{% endif %}

<h3>{{ 'Settings (differences highlighted)' if runs | length > 1 else 'Settings' }}</h3>
<div class="wide"><table>
<tr><th class="l">config key</th>
{%- for r in runs %}<th class="l">{{ r.name }}</th>{% endfor %}</tr>
{% for key, values, differs in settings %}
<tr class="{{ 'diff' if differs }}"><td class="l">{{ key }}</td>
{%- for v in values %}<td class="l">{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table></div>

{% for s in sections %}{% set r = s.run %}{% set t = r.test %}
<h2>{{ r.name }}</h2>
<p class="meta">{{ r.paths.root }} · {{ r.config.model.name }},
{{ r.config.sampling.num_frames }} frames x {{ r.config.augment.crop_size }} px
{%- if t %} · test: {{ t.get('data') or 'test data' }}, {{ t.get('num_videos') }} videos,
{{ t.get('clips') }} clips x {{ t.get('crops') }} crops,
clip-level top-1 {{ t.get('clip_top1') | pct }}{% endif %}</p>
{% if t and t.get('diagnostics') %}<h3>Motion reliance</h3><table>
<tr><th class="l">view</th><th>{{ 'mAP' if r.multi_label else 'top-1' }}</th>
<th>agreement with normal views{{ ' (same label set)' if r.multi_label }}</th></tr>
<tr><td class="l">normal</td><td>{{ test_score(t) | pct }}</td><td>–</td></tr>
{% for name, d in t.diagnostics.items() %}<tr><td class="l">{{ name }}</td>
<td>{{ d.get('map' if r.multi_label else 'top1') | pct }}</td>
<td>{{ d.agreement | pct }}</td></tr>{% endfor %}
</table><p>{{ t.get('diagnostics_reading', '') }}</p>{% endif %}
{% if s.curves %}
<img alt="learning curves of {{ r.name }}" src="data:image/png;base64,{{ s.curves }}">
{% else %}<p class="muted">No metrics.csv: the run has not finished an epoch.</p>{% endif %}
{% if s.confusion %}
<div class="grid"><div class="wide">
<img alt="confusion matrix of {{ r.name }}" src="data:image/png;base64,{{ s.confusion }}">
</div><div>
{% if s.confusions %}<h3>Most frequent confusions</h3><table>
<tr><th class="l">true class</th><th class="l">predicted as</th><th>videos</th></tr>
{% for c in s.confusions %}<tr><td class="l">{{ c.truth }}</td>
<td class="l">{{ c.prediction }}</td><td>{{ c.count }}</td></tr>{% endfor %}
</table>{% endif %}
<h3>Hardest classes</h3><table>
<tr><th class="l">class</th><th>videos</th><th>recall</th><th>precision</th><th>F1</th></tr>
{% for c in s.worst %}<tr><td class="l">{{ c.name }}</td><td>{{ c.support }}</td>
<td>{{ c.recall | pct }}</td><td>{{ c.precision | pct }}</td><td>{{ c.f1 | pct }}</td></tr>
{% endfor %}</table></div></div>
{% elif t and t.get('multi_label') %}
<h3>Per-class average precision (test)</h3><table>
<tr><th class="l">class</th><th>videos</th><th>AP</th><th>threshold</th><th>precision</th>
<th>recall</th><th>F1</th></tr>
{% for c in t.per_class %}<tr><td class="l">{{ c.name }}</td><td>{{ c.support }}</td>
<td>{{ c.ap | pct }}</td><td>{{ '%.3f' % c.threshold }}</td><td>{{ c.precision | pct }}</td>
<td>{{ c.recall | pct }}</td><td>{{ c.f1 | pct }}</td></tr>{% endfor %}
</table><p>mAP macro {{ t.map_macro | pct }}, micro {{ t.map_micro | pct }}; F1 at the
thresholds chosen on validation (thresholds.json).</p>
{% else %}<p class="muted">No test results: run
<code>motionfit evaluate {{ r.paths.root }} --data TEST</code>
or pass <code>--test TEST</code> to the report.</p>{% endif %}
{% endfor %}
</body></html>
"""
