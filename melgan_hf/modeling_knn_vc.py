"""kNN voice conversion: each source frame becomes the mean of the target speaker's nearest mel frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_knn_vc import KnnVCConfig
from .feature_extraction_melgan import batched_log_mel
from .modeling_phone_encoder import PhoneEncoderModel, content_features, content_width, speaker_normalised
from .pitch import log_f0_statistics, pitch_features

QUERY_CHUNK_FRAMES = 256  # source frames matched at once: bounds the (frames × matching set) distance matrix
SHORTLIST_FACTOR = 4  # bf16 candidates per neighbour, re-ranked exactly


@dataclass
class KnnVCOutput(ModelOutput):
    """A content converter's output (kNN or PPG). converted_features: `(batch, frames, num_mel_bins)` log-mels in the
    target's voice, same preset as the input."""

    converted_features: torch.Tensor | None = None


class KnnVCModel(PreTrainedModel):
    """See `KnnVCConfig`. The matching set (the target's mel frames and their keys) is part of the weights, so a saved
    converter is complete; `set_target` rebuilds it from other reference recordings (any-to-any)."""

    config: KnnVCConfig
    config_class = KnnVCConfig
    base_model_prefix = "knn_vc"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: KnnVCConfig) -> None:
        super().__init__(config)
        self.encoder = PhoneEncoderModel(config.encoder_config())
        frames, width = config.matching_frames, content_width(config.encoder_config(), config.content)
        self.register_buffer("matching_content", torch.zeros(frames, width))
        self.register_buffer("matching_pitch", torch.zeros(frames, 2))  # (z-scored log-F0, voicing) per frame
        self.register_buffer("matching_mels", torch.zeros(frames, config.num_mel_bins))
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Weights come from a trained encoder and a matching set; nothing here is learned from scratch."""

    @torch.no_grad()
    def content(self, log_mel: torch.Tensor, vtln_factors: Sequence[float] = ()) -> torch.Tensor:
        """`(frames, mels)` → `(frames, width)` unit-length content keys of one utterance (read at the most
        confident of `vtln_factors`, if any: see `KnnVCConfig`)."""
        config = self.config
        heard = speaker_normalised(self.encoder, log_mel[None], vtln_factors, config.fmin, config.fmax)
        return content_features(self.encoder, heard, config.content)[0]

    @torch.no_grad()
    def set_target(self, log_mels: Sequence[torch.Tensor], f0s: Sequence[np.ndarray], name: str | None = None) -> None:
        """Make the matching set from reference utterances of the target: `(frames, mels)` log-mels and their F0
        per frame (`melgan_hf.pitch.track_pitch`)."""
        if not log_mels:
            raise ValueError("set_target needs at least one reference utterance of the target voice.")
        statistics = log_f0_statistics(np.concatenate([np.asarray(f0) for f0 in f0s]))
        if statistics is None:
            raise ValueError("The target references have almost no voiced frames: they hold no usable speech.")
        contents, pitches = [], []
        for log_mel, f0 in zip(log_mels, f0s, strict=True):
            contents.append(self.content(log_mel))
            pitches.append(torch.from_numpy(pitch_features(f0, log_mel.shape[0], statistics)))
        self.matching_content = torch.cat(contents)
        self.matching_pitch = torch.cat(pitches)
        self.matching_mels = torch.cat([torch.as_tensor(mel).float() for mel in log_mels])
        self.config.matching_frames = int(self.matching_mels.shape[0])
        self.config.target_log_f0 = list(statistics)
        if name is not None:
            self.config.target_name = name

    def with_context(self, content: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Content keys `(frames, width)` → the keys of the frames at `indices` (any shape; default all) with
        `context_frames` neighbours on either side appended at half weight: `(*indices.shape, width × (2 reach + 1))`.
        Edge frames repeat; in the matching set, utterances meet without a gap, which costs a frame or two."""
        if indices is None:
            indices = torch.arange(content.shape[0])
        reach, last = self.config.context_frames, content.shape[0] - 1
        shifted = [0.5 * content[(indices + offset).clamp(0, last)] for offset in range(-reach, reach + 1) if offset]
        return torch.cat([content[indices], *shifted], dim=-1)

    def keys_at(self, indices: torch.Tensor, weight: float) -> torch.Tensor:
        """Exact fp32 keys of the matching frames at `indices` (any shape) → `(*indices.shape, key width)`, built from
        the stored content and pitch without keeping every key."""
        return torch.cat([self.with_context(self.matching_content, indices), weight * self.matching_pitch[indices]], -1)

    def matching_keys(self, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        """All matching keys in bf16 (half the memory, and bf16 matmuls run ~1.8× faster on CPUs with native bf16)
        with their exact squared norms, for the shortlist; made once per setting and remade when the matching set
        or the key settings change (`weight`: of the pitch columns)."""
        stored = (self.matching_content, self.matching_pitch)
        setting = (*((t.data_ptr(), t._version) for t in stored), self.config.context_frames, weight)
        cached = getattr(self, "_matching_keys", None)
        if cached is None or cached[0] != setting:
            blocks, norms = [], []
            for start in range(0, self.matching_content.shape[0], 8192):  # blocks: no full fp32 copy at any time
                exact = self.keys_at(torch.arange(start, min(start + 8192, self.matching_content.shape[0])), weight)
                blocks.append(exact.to(torch.bfloat16))
                norms.append(exact.square().sum(dim=1))
            self._matching_keys = (setting, torch.cat(blocks), torch.cat(norms))
        return self._matching_keys[1], self._matching_keys[2]

    @torch.no_grad()
    def convert(
        self, log_mel: torch.Tensor, f0: np.ndarray | None = None, exclude: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """
        One utterance `(frames, mels)` → its `(frames, mels)` log-mel in the target voice. With the source's F0 per
        frame, neighbours share its place in the speaker's range, so the intonation carries over (moved into the
        target's register, as the target's own frames are that register). A bf16 search shortlists
        `SHORTLIST_FACTOR × k` candidates per frame (or `content_shortlist`, nearest in content alone); exact fp32
        distances on the whole key pick the `k` among them. `exclude`: a range
        of matching frames never picked, e.g. the utterance's own when the matching set holds it (a vocoder's
        "prematched" training input: the target's speech as conversion rebuilds it from its other utterances).
        """
        frames = log_mel.shape[0]
        weight = self.config.pitch_weight
        source_statistics = log_f0_statistics(np.asarray(f0)) if f0 is not None else None
        content = self.content(log_mel, self.config.vtln_factors)
        pitch = weight * torch.from_numpy(pitch_features(f0, frames, source_statistics))  # zeros: content only
        key_weight = weight if source_statistics is not None else 0.0  # no source pitch: match on content only
        content_first = self.config.content_shortlist > 0
        keys, key_norms = self.matching_keys(0.0 if content_first else key_weight)
        k = min(self.config.k, keys.shape[0])
        shortlist_size = min(self.config.content_shortlist if content_first else SHORTLIST_FACTOR * k, keys.shape[0])
        k = min(k, shortlist_size)
        converted = torch.empty(frames, self.matching_mels.shape[1])
        for start in range(0, frames, QUERY_CHUNK_FRAMES):
            indices = torch.arange(start, min(start + QUERY_CHUNK_FRAMES, frames))
            chunk = torch.cat([self.with_context(content, indices), pitch[indices]], dim=1)  # never all queries at once
            # −‖q − key‖² + ‖q‖²: the same order as the distance (content only: the keys' pitch columns are 0)
            rough = (chunk.to(torch.bfloat16) @ keys.T).float().mul_(2).sub_(key_norms)
            if exclude is not None:
                rough[:, exclude[0] : exclude[1]] = -torch.inf
            shortlist = rough.topk(shortlist_size, dim=1).indices
            candidates = self.keys_at(shortlist, key_weight)
            exact = 2 * (candidates @ chunk[:, :, None]).squeeze(-1) - candidates.square().sum(dim=-1)
            nearest = shortlist.gather(1, exact.topk(k, dim=1).indices)
            converted[start : start + chunk.shape[0]] = self.matching_mels[nearest].mean(dim=1)
        return converted

    def forward(
        self, input_features: torch.Tensor, f0: torch.Tensor | None = None, return_dict: bool | None = None
    ) -> KnnVCOutput | tuple:
        """`(batch, frames, mels)` log-mels (and optionally `(batch, frames)` F0 in Hz, 0 unvoiced) → converted."""
        return convert_each(self, input_features, f0, return_dict)


def convert_each(
    model: KnnVCModel | PreTrainedModel, input_features: torch.Tensor, f0: torch.Tensor | None, return_dict: bool | None
) -> KnnVCOutput | tuple:
    """A content converter's `forward`: its `convert` on each utterance of the batch."""
    log_mels = batched_log_mel(input_features, model.config.num_mel_bins)
    pitches = [None] * log_mels.shape[0] if f0 is None else [row.cpu().numpy() for row in f0]
    converted = torch.stack([model.convert(mel, pitch) for mel, pitch in zip(log_mels, pitches, strict=True)])
    return_dict = return_dict if return_dict is not None else model.config.return_dict
    return KnnVCOutput(converted_features=converted) if return_dict else (converted,)


__all__ = ["KnnVCModel"]
