"""A plan as a recipe file: ``extends:`` the base recipe, every planned value with its reason as
a comment, and a header with the data and machine it was made for. ``motionfit train --config
plan.yaml`` runs it; it is an ordinary config file to read and edit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from motionfit.atomic import atomic_write_text
from motionfit.config import Config, load_config
from motionfit.plan.fingerprint import DataFingerprint
from motionfit.plan.machine import Machine
from motionfit.plan.rules import Plan


def plan_yaml(plan: Plan, data: DataFingerprint, machine: Machine) -> str:
    """The plan as commented YAML that reads back to the planned config."""
    lines = [
        f"# motionfit plan for {data.source}, made {date.today().isoformat()} for "
        f"{machine.describe()}",
        *(f"# data: {line}" for line in data.summary()),
        *(f"# note: {note}" for note in plan.notes),
        "# Run it: motionfit train --config THIS_FILE --out RUN_DIR   (edit any value first)",
        f"description: Planned from {Path(data.source).name} ({len(data.classes)} classes, "
        f"{data.readable} videos) for {machine.describe()}.",
        f"extends: {plan.recipe}",
    ]
    sections: dict[str, list[str]] = {}
    for setting in plan.settings:
        section, _, key = setting.key.partition(".")
        text = yaml.safe_dump(
            {key: setting.value}, default_flow_style=True, width=10**6, sort_keys=False
        )
        sections.setdefault(section, []).append(f"  {text.strip()[1:-1]}  # {setting.why}")
    for section, entries in sections.items():
        lines.append(f"{section}:")
        lines.extend(entries)
    return "\n".join(lines) + "\n"


def write_plan(plan: Plan, data: DataFingerprint, machine: Machine, out: Path) -> Config:
    """Write the plan to ``out`` (atomically) after checking it validates; returns its config."""
    text = plan_yaml(plan, data, machine)
    config = load_config(plan.recipe, plan.overrides())
    atomic_write_text(out, text)
    return config
