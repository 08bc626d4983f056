"""Configurations of the content-based voice converters: phone-encoder content + pitch → the target speaker's mels,
by nearest target frames (`KnnVCConfig`) or by a decoder trained on the target (`PPGVCConfig`)."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict

from .configuration_melgan import MelFrontEndConfig, _require_positive
from .configuration_phone_encoder import PhoneEncoderConfig


@strict
class ContentVCConfig(MelFrontEndConfig):
    r"""
    What both content-based converters share. Mel front end (must equal the vocoder's and the encoder's):
    `MelFrontEndConfig`'s fields. encoder: the `PhoneEncoderConfig` of the content encoder, as a dict. content:
    "bottleneck" (its embedding) or "posteriors" (√ of the phone posteriors: a Hellinger-distance key).
    target_log_f0: the target's voiced log-F0 (mean, std), where source pitch is moved. target_name: whose voice this
    is, for cards and the app.

    vtln_factors (empty: off): vocal-tract warps (`melgan_hf.augment.warp_log_mel`; > 1 moves formants up) tried on
    each source utterance when converting; its content is read from the warp the encoder reads most confidently (mean
    highest phone posterior): speaker normalisation at test time (Lee & Rose 1996), for voices whose formants sit where
    few of the encoder's training voices had them. Pitch and loudness are read from the unwarped input, and the
    target's own recordings are read as they are.
    """

    encoder: dict[str, Any] | None = None
    content: str = "bottleneck"
    target_log_f0: list[float] | tuple[float, float] = (5.3, 0.2)
    target_name: str = "target speaker"
    vtln_factors: list[float] | tuple[float, ...] = ()

    def encoder_config(self) -> PhoneEncoderConfig:
        fields = dict(self.encoder or {})
        for key in ("model_type", "transformers_version", "architectures", "dtype", "torch_dtype"):
            fields.pop(key, None)
        return PhoneEncoderConfig(**{**fields, **self.audio_kwargs})

    def check_fields(self) -> None:
        super().check_fields()
        if self.content not in ("bottleneck", "posteriors"):
            raise ValueError(
                f"{type(self).__name__}.content must be 'bottleneck' or 'posteriors', got {self.content!r}."
            )
        if any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.5 <= f <= 2 for f in self.vtln_factors):
            raise ValueError(
                f"{type(self).__name__}.vtln_factors must be numbers in [0.5, 2], got {list(self.vtln_factors)!r}."
            )
        if len(self.target_log_f0) != 2 or self.target_log_f0[1] <= 0:
            raise ValueError(
                f"{type(self).__name__}.target_log_f0 must be (mean, std > 0), got {self.target_log_f0!r}."
            )


@strict
class KnnVCConfig(ContentVCConfig):
    r"""
    kNN-VC (Baas et al. 2023) on content features made here: every source frame is replaced by the mean of the `k`
    target-speaker mel frames nearest to it in (phone-encoder content, log-F0) space. Nothing is generated, so the
    output can only sound like the target; the words survive as far as the encoder hears them.

    `ContentVCConfig`'s fields, and: k: neighbours averaged per frame. pitch_weight: weight of log-F0 (z-scored in
    each speaker's own range) and voicing in the matching key; 0 matches on content alone. context_frames: neighbours
    on either side whose content (at half weight) joins each frame's key, so matches agree with their surroundings
    and the output runs on in longer stretches of the target's speech instead of jumping every frame.
    content_shortlist: 0 searches on the whole key (content and pitch together); N > 0 first takes the N frames
    nearest in content alone, then the `k` nearest among them in content and pitch, so pitch picks among frames that
    say the right thing instead of trading words for melody. matching_frames: size of the stored matching set.
    """

    model_type = "melgan_knn_vc"

    k: int = 4
    pitch_weight: float = 0.5
    context_frames: int = 0
    content_shortlist: int = 0
    matching_frames: int = 1

    def check_fields(self) -> None:
        super().check_fields()
        for name in ("k", "matching_frames"):
            _require_positive(self, name)
        if not isinstance(self.content_shortlist, int) or self.content_shortlist < 0:
            raise ValueError(f"KnnVCConfig.content_shortlist must be an int >= 0, got {self.content_shortlist!r}.")
        if not isinstance(self.context_frames, int) or self.context_frames < 0:
            raise ValueError(f"KnnVCConfig.context_frames must be an int >= 0, got {self.context_frames!r}.")
        if self.pitch_weight < 0:
            raise ValueError(f"KnnVCConfig.pitch_weight must be >= 0, got {self.pitch_weight!r}.")


__all__ = ["ContentVCConfig", "KnnVCConfig"]
