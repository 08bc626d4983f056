"""Configuration of the phone encoder: log-mel frames → phone posteriors, speaker-independent (voice conversion)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from .configuration_melgan import MelFrontEndConfig, _require_positive
from .phones import PHONES


@strict
class PhoneEncoderConfig(MelFrontEndConfig):
    r"""
    A frame classifier over the broad phone classes of `melgan_hf.phones`: what a voice converter keeps of the
    source (the words), free of who spoke them. Each utterance's log-mel is normalised per bin (mean and variance
    over its frames), which cancels microphone gain and equalisation, then a dilated conv stack (per-frame
    LayerNorm, GELU, residual) narrows to a `bottleneck_channels` embedding (a content key for nearest-neighbour
    matching) and `phones` logits.

    Mel front end (must equal the vocoder's): `MelFrontEndConfig`'s fields.
    Network: hidden_channels, dilations (one residual block per entry, kernel_size wide), bottleneck_channels.
    phones: the class names, in logit order (the inventory the model was trained on).
    """

    model_type = "melgan_phone_encoder"

    hidden_channels: int = 256
    dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    kernel_size: int = 3
    bottleneck_channels: int = 64
    phones: list[str] | tuple[str, ...] = PHONES

    def check_fields(self) -> None:
        super().check_fields()
        for name in ("hidden_channels", "bottleneck_channels"):
            _require_positive(self, name)
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"PhoneEncoderConfig.kernel_size must be an odd positive int, got {self.kernel_size!r}.")
        if not self.dilations or any(not isinstance(d, int) or d < 1 for d in self.dilations):
            raise ValueError(f"PhoneEncoderConfig.dilations must be positive ints, got {self.dilations!r}.")
        if len(self.phones) < 2 or len(set(self.phones)) != len(self.phones):
            raise ValueError(f"PhoneEncoderConfig.phones must be two or more distinct names, got {self.phones!r}.")


__all__ = ["PhoneEncoderConfig"]
