"""Published X3D and SlowFast checkpoints onto motionfit's networks.

Two layouts are read, whichever a file holds (both checked against the published code):

- PyTorchVideo's model zoo ``.pyth`` (``{"model_state": ...}``; ``blocks.N.*``, see
  ``pytorchvideo/models/x3d.py``, ``slowfast.py``, ``resnet.py``, ``head.py``);
- mmaction2's ``.pth`` (``{"state_dict": ...}``; ``backbone.*`` and ``cls_head.*``, see
  ``mmaction/models/backbones/x3d.py``, ``resnet3d_slowfast.py``, ``heads/*``).

Each key is renamed by a table of regular expressions to the classifier's own keys; the final
classifier goes to the last layer of the shared head, whose rows then follow class names
(:func:`~motionfit.models.weights.load_classifier_weights`). Where a layout lacks a norm that
motionfit's network has (PyTorchVideo's X3D has no batch norm on the first shortcut, which
keeps the width; mmaction2's SlowFast laterals are bare convolutions), the network drops it
before loading, so the loaded model computes what the published one does; the load report
lists each such change under ``adapted``. Zoo names (``pytorchvideo:x3d_s``) are read from the
torch hub cache, never downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.slowfast import Lateral, SlowFastClassifier
from motionfit.models.weights import (
    LoadReport,
    load_classifier_weights,
    read_class_names,
    read_hub_checkpoint,
    read_state_dict,
)
from motionfit.models.x3d import Shortcut

_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
ZOO_FILES = {
    "pytorchvideo:x3d_xs": f"{_ZOO}/X3D_XS.pyth",
    "pytorchvideo:x3d_s": f"{_ZOO}/X3D_S.pyth",
    "pytorchvideo:x3d_m": f"{_ZOO}/X3D_M.pyth",
    "pytorchvideo:x3d_l": f"{_ZOO}/X3D_L.pyth",
    "pytorchvideo:slowfast_r50": f"{_ZOO}/SLOWFAST_8x8_R50.pyth",
    "pytorchvideo:slowfast_r50_4x16": f"{_ZOO}/SLOWFAST_4x16_R50.pyth",
}

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_X3D_BRANCH2 = {"conv_a": "conv1", "norm_a": "norm1", "conv_b": "conv2", "norm_b.0": "norm2"}
_X3D_BRANCH2 |= {"norm_b.1.block.0": "se.fc1", "norm_b.1.block.2": "se.fc2"}
_X3D_BRANCH2 |= {"conv_c": "conv3", "norm_c": "norm3"}
_RES_BRANCH = {"branch1_conv": "shortcut.conv", "branch1_norm": "shortcut.norm"}
_PV_LAYER = {**_RES_BRANCH, **{f"branch2.{k}": v for k, v in _X3D_BRANCH2.items()}}
# a ResNet bottleneck (SlowFast): norm_b is the norm itself, with no squeeze-excitation
_PV_BOTTLENECK = {**_RES_BRANCH, "branch2.norm_b": "norm2"}
_PV_BOTTLENECK |= {k: v for k, v in _PV_LAYER.items() if "norm_b" not in k}
_MM_LAYER = {"conv1.conv": "conv1", "conv1.bn": "norm1", "conv2.conv": "conv2"}
_MM_LAYER |= {"conv2.bn": "norm2", "conv3.conv": "conv3", "conv3.bn": "norm3"}
_MM_LAYER |= {"downsample.conv": "shortcut.conv", "downsample.bn": "shortcut.norm"}
_MM_LAYER |= {"se_module.fc1": "se.fc1", "se_module.fc2": "se.fc2"}
_PATH = {"0": "slow", "1": "fast"}


def _one_of(table: dict[str, str]) -> str:
    """A regular-expression group matching any key of ``table`` (longest first)."""
    return "(" + "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)) + ")"


Rename = Callable[[re.Match[str]], str]
# (pattern, new name): a template (``\\1``: a group; ``{head}``: the head's last layer) or a
# function of the match; the first pattern matching a whole key wins
Rules = tuple[tuple[str, str | Rename], ...]

X3D_PYTORCHVIDEO: Rules = (
    (r"blocks\.0\.conv\.conv_t\.(.+)", r"backbone.conv_s.\1"),  # the 1x3x3 one, despite its name
    (r"blocks\.0\.conv\.conv_xy\.(.+)", r"backbone.conv_t.\1"),
    (r"blocks\.0\.norm\.(.+)", r"backbone.stem_norm.\1"),
    (r"blocks\.5\.pool\.pre_conv\.(.+)", r"backbone.conv5.\1"),
    (r"blocks\.5\.pool\.pre_norm\.(.+)", r"backbone.norm5.\1"),
    (r"blocks\.5\.pool\.post_conv\.(.+)", r"backbone.lin5.\1"),
    (r"blocks\.5\.proj\.(.+)", r"{head}\1"),
    (
        rf"blocks\.([1-4])\.res_blocks\.(\d+)\.{_one_of(_PV_LAYER)}\.(.+)",
        lambda m: f"backbone.stages.{int(m[1]) - 1}.{m[2]}.{_PV_LAYER[m[3]]}.{m[4]}",
    ),
)
X3D_MMACTION: Rules = (
    (r"backbone\.conv1_s\.conv\.(.+)", r"backbone.conv_s.\1"),
    (r"backbone\.conv1_t\.conv\.(.+)", r"backbone.conv_t.\1"),
    (rf"backbone\.conv1_t\.bn\.{_BN}", r"backbone.stem_norm.\1"),
    (r"backbone\.conv5\.conv\.(.+)", r"backbone.conv5.\1"),
    (rf"backbone\.conv5\.bn\.{_BN}", r"backbone.norm5.\1"),
    (
        rf"backbone\.layer([1-4])\.(\d+)\.{_one_of(_MM_LAYER)}\.(.+)",
        lambda m: f"backbone.stages.{int(m[1]) - 1}.{m[2]}.{_MM_LAYER[m[3]]}.{m[4]}",
    ),
    (r"cls_head\.fc1\.(.+)", r"backbone.lin5.\1"),
    (r"cls_head\.fc2\.(.+)", r"{head}\1"),
)
SLOWFAST_PYTORCHVIDEO: Rules = (
    (
        r"blocks\.0\.multipathway_blocks\.([01])\.(conv|norm)\.(.+)",
        lambda m: f"backbone.{_PATH[m[1]]}_stem.{m[2]}.{m[3]}",
    ),
    (
        r"blocks\.([0-3])\.multipathway_fusion\.conv_fast_to_slow\.(.+)",
        r"backbone.laterals.\1.conv.\2",
    ),
    (r"blocks\.([0-3])\.multipathway_fusion\.norm\.(.+)", r"backbone.laterals.\1.norm.\2"),
    (
        rf"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\."
        rf"{_one_of(_PV_BOTTLENECK)}\.(.+)",
        lambda m: (
            f"backbone.{_PATH[m[2]]}_stages.{int(m[1]) - 1}.{m[3]}.{_PV_BOTTLENECK[m[4]]}.{m[5]}"
        ),
    ),
    (r"blocks\.6\.proj\.(.+)", r"{head}\1"),
)
SLOWFAST_MMACTION: Rules = (
    (r"backbone\.(slow|fast)_path\.conv1\.conv\.(.+)", r"backbone.\1_stem.conv.\2"),
    (rf"backbone\.(slow|fast)_path\.conv1\.bn\.{_BN}", r"backbone.\1_stem.norm.\2"),
    (r"backbone\.slow_path\.conv1_lateral\.conv\.(.+)", r"backbone.laterals.0.conv.\1"),
    (r"backbone\.slow_path\.layer([1-3])_lateral\.conv\.(.+)", r"backbone.laterals.\1.conv.\2"),
    (
        rf"backbone\.(slow|fast)_path\.layer([1-4])\.(\d+)\.{_one_of(_MM_LAYER)}\.(.+)",
        lambda m: f"backbone.{m[1]}_stages.{int(m[2]) - 1}.{m[3]}.{_MM_LAYER[m[4]]}.{m[5]}",
    ),
    (r"cls_head\.fc_cls\.(.+)", r"{head}\1"),
)


def convert_state(
    state: dict[str, torch.Tensor], rules: Rules, head: str
) -> dict[str, torch.Tensor]:
    """``state`` under the classifier's keys: each key renamed by the first of ``rules`` that
    matches it whole (``head``: the prefix of the head's last layer); a key no rule matches is
    kept as it is (the load report lists it as ignored). X3D's ``lin5`` is a linear layer: a
    1x1x1 convolution's weight is flattened to it."""
    compiled = [(re.compile(pattern), rename) for pattern, rename in rules]
    out = {}
    for key, value in state.items():
        name = key
        for pattern, rename in compiled:
            match = pattern.fullmatch(key)
            if match:
                name = (
                    rename(match)
                    if callable(rename)
                    else match.expand(rename.replace("{head}", head))
                )
                break
        out[name] = value.flatten(1) if name == "backbone.lin5.weight" else value
    return out


def _layout(state: dict[str, torch.Tensor], family: str) -> tuple[str, Rules]:
    """Which published layout ``state`` is in (or motionfit's own), and its rules."""
    if any(k.startswith("blocks.") for k in state):
        return "PyTorchVideo", X3D_PYTORCHVIDEO if family == "x3d" else SLOWFAST_PYTORCHVIDEO
    if any(k.startswith("cls_head.") or k.startswith("backbone.layer") for k in state) or any(
        k.startswith("backbone.slow_path.") for k in state
    ):
        return "mmaction2", X3D_MMACTION if family == "x3d" else SLOWFAST_MMACTION
    return "motionfit", ()


def _match_norms(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Drop the optional norms (X3D's shortcut norm, SlowFast's lateral norm and ReLU) that
    ``state`` has no weights for while it has the layer they follow; one line per change."""
    lines = []
    for name, module in model.named_modules():
        if not isinstance(module, Shortcut | Lateral) or isinstance(module.norm, nn.Identity):
            continue
        if f"{name}.conv.weight" in state and f"{name}.norm.weight" not in state:
            if isinstance(module, Lateral):
                module.drop_norm()
            else:
                module.norm = nn.Identity()
            lines.append(f"{name}: no norm in the weights, so none in the model")
    return lines


def _fast_first_head(model: SlowFastClassifier, state: dict[str, torch.Tensor], head: str) -> None:
    """mmaction2's SlowFast head reads ``[fast, slow]`` features; ours reads ``[slow, fast]``:
    swap the column blocks of its weight."""
    slow, fast = model.size.features
    weight = state.get(head + "weight")
    if weight is not None and weight.shape[-1] == slow + fast:
        state[head + "weight"] = torch.cat([weight[:, fast:], weight[:, :fast]], dim=1)


def load_zoo_pretrained(model: VideoClassifier, source: str, *, family: str) -> LoadReport:
    """Load an X3D/SlowFast checkpoint into ``model``: a zoo name of :data:`ZOO_FILES` (read
    from the torch hub cache; Kinetics-400 class names), or a local ``.pyth``/``.pth``/
    ``.pt``/``.safetensors`` file in the PyTorchVideo, mmaction2 or motionfit layout (class
    names from :func:`read_class_names`)."""
    if source in ZOO_FILES:
        from torchvision.models.video import R2Plus1D_18_Weights

        state = read_hub_checkpoint(ZOO_FILES[source], source)
        classes = R2Plus1D_18_Weights.KINETICS400_V1.meta["categories"]  # alphabetical K400
    elif source.startswith("pytorchvideo:"):
        names = ", ".join(k for k in ZOO_FILES if family.split("_")[0] in k)
        raise ModelError(f"unknown weights '{source}'; {family} takes {names} or a local file")
    else:
        state = read_state_dict(source)
        classes = read_class_names(source)
    head = f"head.layers.{len(model.head.layers) - 1}."
    layout, rules = _layout(state, family)
    state = convert_state(state, rules, head)
    if layout == "mmaction2" and isinstance(model, SlowFastClassifier):
        _fast_first_head(model, state, head)
    adapted = _match_norms(model, state)
    return load_classifier_weights(
        model, state, source, lambda key: key, lambda state, own: adapted, classes
    )
