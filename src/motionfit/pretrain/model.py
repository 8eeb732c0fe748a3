"""The pretraining network: transformers' ``VideoMAEForPreTraining`` (encoder, decoder, and
the normalized-pixel reconstruction loss), sized from motionfit's VideoMAE registry.

Its state dict uses transformers' names (``videomae.*`` encoder, ``encoder_to_decoder``,
``mask_token``, ``decoder.*``): the encoder keys are those of
:class:`~motionfit.models.hf_videomae.VideoMAEClassifier`, so ``build_model(...,
pretrained=RUN_DIR/model.safetensors)`` loads the encoder exactly and reports the decoder as
unexpected.
"""

from __future__ import annotations

import torch
from transformers import VideoMAEForPreTraining

from motionfit.errors import ConfigError
from motionfit.models.family import ViTSize
from motionfit.models.hf_common import (
    PATCH_SIZE,
    TUBELET_SIZE,
    encoder_layer_id,
    square_side,
    videomae_config,
)
from motionfit.models.hf_videomae import VIDEOMAE_SIZES
from motionfit.models.registry import get_spec

DEFAULT_DECODER_DEPTH = 4  # VideoMAE's --decoder_depth default (run_mae_pretraining.py)


class VideoMAEPretrainer(VideoMAEForPreTraining):
    """``VideoMAEForPreTraining`` that describes its parameters to motionfit's optimizer
    (:func:`motionfit.train.optim.param_groups`), like a ``VideoClassifier`` does."""

    @property
    def num_layers(self) -> int:
        """Encoder depth."""
        return self.config.num_hidden_layers

    @property
    def patch_size(self) -> int:
        """Side of a token's square patch, in pixels."""
        return square_side(self.config.patch_size)

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of a clip."""
        side = square_side(self.config.image_size) // self.patch_size
        return (self.config.num_frames // self.config.tubelet_size, side, side)

    def layer_id(self, param_name: str) -> int:
        """0 = patch embedding, ``i + 1`` = encoder layer ``i``, ``L + 1`` = the decoder side."""
        return encoder_layer_id(param_name, "videomae", self.num_layers)

    def no_weight_decay(self) -> set[str]:
        """Biases, norms and the mask token take no weight decay (as in VideoMAE and MAE; the
        position tables are fixed sinusoids, not parameters)."""
        return {
            name
            for name, param in self.named_parameters()
            if param.ndim <= 1 or name == "mask_token"
        }

    def reconstruct_tokens(
        self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, logits)`` for ``[B, C, T, H, W]`` normalized clips: ``logits`` are the
        predicted masked tokens ``[B, masked, tubelet*patch*patch*C]`` in token order."""
        out = self(
            pixel_values=pixel_values.permute(0, 2, 1, 3, 4), bool_masked_pos=bool_masked_pos
        )
        return out.loss, out.logits


def decoder_size(encoder: ViTSize, depth: int) -> ViTSize:
    """VideoMAE's decoder: half the encoder's width and heads (ViT-S 192/3, ViT-B 384/6, ViT-L
    512/8 in its ``modeling_pretrain.py``), MLP ratio kept, ``depth`` layers."""
    return ViTSize(
        hidden=encoder.hidden // 2,
        layers=depth,
        heads=max(1, encoder.heads // 2),
        mlp=encoder.mlp // 2,
    )


def check_pretrainable(name: str, num_frames: int, image_size: int) -> None:
    """Raise a :class:`ConfigError` unless ``name`` is a VideoMAE model and the clip shape fits
    its tubelets and patches."""
    if name not in VIDEOMAE_SIZES:
        family = get_spec(name).family  # unknown names get the registry's suggestion
        videomae = ", ".join(sorted(VIDEOMAE_SIZES))
        raise ConfigError(
            f"config key 'model.name': pretraining needs a VideoMAE model ({videomae}); "
            f"'{name}' is a {family} model"
        )
    if num_frames % TUBELET_SIZE or image_size % PATCH_SIZE:
        raise ConfigError(
            f"VideoMAE needs sampling.num_frames divisible by {TUBELET_SIZE} and "
            f"augment.crop_size divisible by {PATCH_SIZE}; got {num_frames} and {image_size}"
        )


def build_pretrainer(
    name: str,
    num_frames: int,
    image_size: int,
    *,
    norm_pix_loss: bool = True,
    decoder_depth: int | None = None,
) -> VideoMAEPretrainer:
    """A randomly initialized VideoMAE encoder + decoder for the registered VideoMAE model
    ``name`` at ``num_frames`` x ``image_size``² (the clip shape fine-tuning will use)."""
    check_pretrainable(name, num_frames, image_size)
    encoder = VIDEOMAE_SIZES[name]
    decoder = decoder_size(encoder, decoder_depth or DEFAULT_DECODER_DEPTH)
    config = videomae_config(
        num_frames,
        image_size,
        encoder,
        decoder_hidden_size=decoder.hidden,
        decoder_num_hidden_layers=decoder.layers,
        decoder_num_attention_heads=decoder.heads,
        decoder_intermediate_size=decoder.mlp,
        norm_pix_loss=norm_pix_loss,
        attn_implementation="sdpa",
    )
    return VideoMAEPretrainer(config)
