"""The public Python API: the package exports and the README's "Use it from Python" example."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    """The Python block of the README's "Use it from Python" section."""
    section = README.read_text().split("## Use it from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README: no python block under 'Use it from Python'"
    return match.group(1)


def test_packages_export_the_public_names():
    import motionfit.data
    import motionfit.evaluation
    import motionfit.models
    import motionfit.train

    for module in (motionfit.models, motionfit.data, motionfit.train, motionfit.evaluation):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    assert len(code.strip().splitlines()) <= 20
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    assert (tmp_path / "runs/python/model.safetensors").is_file()
    assert (tmp_path / "runs/python/eval/metrics.json").is_file()
    assert "(0.485, 0.456, 0.406)" in capsys.readouterr().out
