"""Configuration of the phonetic-posteriorgram converter: phone-encoder content + pitch + energy → a decoder trained
on the target speaker → the target's log-mel."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from .configuration_knn_vc import ContentVCConfig
from .configuration_melgan import _require_positive


@strict
class PPGVCConfig(ContentVCConfig):
    r"""
    PPG voice conversion (Sun et al. 2016): each frame's content (the phone encoder's posteriors or bottleneck, from
    a classifier trained on many voices, so who spoke is mostly gone), log-F0 z-scored in its speaker's own range,
    voicing and energy go through a decoder trained on the target speaker alone, which can only answer in the
    target's voice. Unlike kNN conversion it is one target per model (no `set_target`), and it generates frames, so
    it is as good as its decoder's training.

    `ContentVCConfig`'s fields, and the decoder: a conv of width 5 into `hidden_channels`, one residual block per
    entry of `dilations` (`kernel_size` wide, per-frame LayerNorm, GELU; the phone encoder's block), a conv of width
    5 to the mel bins.

    `content_temperature` divides the encoder's logits before the softmax when converting (training reads the
    target at 1): below 1 it sharpens the posteriors of voices the encoder reads less surely than the target's, whose
    confident posteriors are all the decoder ever heard. Posteriors content only.
    """

    model_type = "melgan_ppg_vc"

    content: str = "posteriors"
    hidden_channels: int = 256
    dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    kernel_size: int = 3
    content_temperature: float = 1.0

    def check_fields(self) -> None:
        super().check_fields()
        _require_positive(self, "hidden_channels")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"PPGVCConfig.kernel_size must be an odd positive int, got {self.kernel_size!r}.")
        _require_positive(self, "content_temperature")
        if self.content_temperature != 1.0 and self.content != "posteriors":
            raise ValueError("PPGVCConfig.content_temperature needs content 'posteriors'.")
        if not self.dilations or any(not isinstance(d, int) or d < 1 for d in self.dilations):
            raise ValueError(f"PPGVCConfig.dilations must be positive ints, got {self.dilations!r}.")


__all__ = ["PPGVCConfig"]
