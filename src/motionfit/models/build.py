"""``build_model``: a registered name -> a ready ``VideoClassifier``, optionally with weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from motionfit.errors import ModelError
from motionfit.models.base import VideoClassifier
from motionfit.models.head import HeadSpec
from motionfit.models.registry import ModelSpec, families_with, get_spec
from motionfit.models.weights import load_classifier_weights, read_class_names, read_state_dict

if TYPE_CHECKING:
    from motionfit.config import Config


def build_model(
    name: str,
    num_classes: int,
    num_frames: int | None = None,
    image_size: int | None = None,
    pretrained: str | None = None,
    head: HeadSpec | None = None,
    drop_path: float = 0.1,
    class_names: Sequence[str] | None = None,
) -> VideoClassifier:
    """Build the registered model ``name``: float ``[B, 3, T, H, W]`` in, logits
    ``[B, num_classes]`` out.

    Args:
        name: a registered model (``motionfit models`` lists them).
        num_classes: classes of the new head.
        num_frames: clip length T (default: the model's reference clip length).
        image_size: square input size H = W (default: the model's reference size).
        pretrained: weights to start from: a weights name the model lists (e.g.
            ``KINETICS400_V1``, a HF hub id) or a local ``.pt``/``.pth``/``.safetensors`` file.
            Position tables are adapted to ``num_frames``/``image_size``; classifier rows go to
            the classes by name where the weights and ``class_names`` name them; what was
            loaded is in ``model.load_report``.
        head: dropout and optional hidden layer of the head.
        drop_path: stochastic depth rate, where the family has it.
        class_names: the names of the ``num_classes`` classes, in order (None: unknown;
            pretrained classifier rows are then kept by position when the counts match).
    """
    spec = get_spec(name)
    frames = num_frames or spec.default_frames
    size = image_size or spec.default_size
    _check_input(spec, num_classes, frames, size)
    if class_names is not None and len(class_names) != num_classes:
        raise ModelError(f"{name}: {len(class_names)} class names for {num_classes} classes")
    if head is not None and head.pool == "attentive" and not spec.capabilities.attentive_head:
        attentive = families_with("attentive_head")
        raise ModelError(f"{name}: model.head=attentive needs a model of the {attentive} families")
    model = spec.builder(num_classes, frames, size, head or HeadSpec(), drop_path)
    model.class_names = None if class_names is None else tuple(class_names)
    if pretrained:
        if spec.load_pretrained is not None:
            model.load_report = spec.load_pretrained(model, pretrained)
        else:  # a family without its own sources: motionfit's own saved weights
            state = read_state_dict(pretrained)
            model.load_report = load_classifier_weights(
                model, state, pretrained, lambda k: k, source_classes=read_class_names(pretrained)
            )
    return model


def build_model_from_config(
    config: Config,
    num_classes: int,
    pretrained: str | None = None,
    drop_path: float | None = None,
    class_names: Sequence[str] | None = None,
) -> VideoClassifier:
    """:func:`build_model` with the model, clip length, input size and head of ``config``;
    ``drop_path`` defaults to ``model.drop_path`` (0 for inference); ``class_names`` as in
    :func:`build_model`."""
    return build_model(
        config.model.name,
        num_classes=num_classes,
        num_frames=config.sampling.num_frames,
        image_size=config.augment.crop_size,
        pretrained=pretrained,
        head=HeadSpec(
            dropout=config.model.dropout,
            hidden_dim=config.model.hidden_dim,
            pool=config.model.head,
        ),
        drop_path=config.model.drop_path if drop_path is None else drop_path,
        class_names=class_names,
    )


def _check_input(spec: ModelSpec, num_classes: int, frames: int, size: int) -> None:
    if num_classes < 1:
        raise ModelError(f"{spec.name}: num_classes must be >= 1, got {num_classes}")
    if frames < 1 or frames % spec.frame_multiple:
        raise ModelError(
            f"{spec.name}: num_frames must be a positive multiple of {spec.frame_multiple}, "
            f"got {frames}"
        )
    if size < 1 or size % spec.size_multiple:
        raise ModelError(
            f"{spec.name}: image_size must be a positive multiple of {spec.size_multiple}, "
            f"got {size}"
        )
