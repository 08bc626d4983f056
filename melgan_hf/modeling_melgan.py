"""MelGAN generator (mel → waveform) and multi-scale waveform discriminator (Kumar et al., 2019)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.signal
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_melgan import MelGANConfig
from .feature_extraction_melgan import MelGANFeatureExtractor, _exporting, batched_log_mel
from .modeling_amplitude_refiner import AmplitudeHead, FrameNet

_CONV_TYPES = (nn.Conv1d, nn.ConvTranspose1d)


class ReflectConv1d(nn.Conv1d):
    """
    `nn.Conv1d(..., padding=p, padding_mode="reflect")` with the padding done by concatenating mirrored edges: the
    same numbers, but on the CPU `reflection_pad1d` costs ~10× a copy and was a tenth of the generator's time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, padding_mode="reflect", **kwargs)

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        pad = self.padding[0]
        if 0 < pad < input.shape[-1]:  # shorter inputs: F.pad raises its own clear error
            padded = reflect_pad(input, pad)
            return nn.functional.conv1d(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return super()._conv_forward(input, weight, bias)


def reflect_pad(hidden_states: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect-pad the last (time) axis by `pad < length` samples, by concatenation (see `ReflectConv1d`)."""
    mirrored_start, mirrored_end = hidden_states[..., 1 : pad + 1].flip(-1), hidden_states[..., -pad - 1 : -1].flip(-1)
    return torch.cat([mirrored_start, hidden_states, mirrored_end], dim=-1)


def upsampling_reach(ratios: Sequence[int], n_residual_layers: int) -> float:
    """
    How many input steps on either side can change an output sample of upsampling blocks with these `ratios`
    followed by the k7 conv_post: a transposed conv reaches 1 input step, a residual stack the sum of its dilations,
    the conv_post 3, each at its own sample rate.
    """
    dilations = sum(3**layer for layer in range(n_residual_layers))
    reach, rate = 0.0, 1
    for ratio in ratios:
        reach += 1 / rate  # the transposed conv: inputs j - 1 and j
        rate *= ratio
        reach += dilations / rate
    return reach + 3 / rate


class PQMF(nn.Module):
    """
    Pseudo-QMF filter bank (Nguyen 1994; the design Multi-band MelGAN uses): `num_bands` cosine-modulated copies of
    one Kaiser-windowed low-pass prototype. `analysis` splits `(batch, 1, samples)` into `(batch, bands, samples /
    bands)`, `synthesis` merges them back with near-perfect reconstruction. Fixed filters, computed, never saved.
    """

    def __init__(self, num_bands: int, taps: int, cutoff: float, beta: float) -> None:
        super().__init__()
        prototype = scipy.signal.firwin(taps + 1, cutoff, window=("kaiser", beta), scale=False)
        centred = np.arange(taps + 1) - taps / 2
        bands = np.arange(num_bands)[:, None]
        angle = (2 * bands + 1) * np.pi / (2 * num_bands) * centred
        shift = (-1) ** bands * np.pi / 4
        analysis = 2 * prototype * np.cos(angle + shift)
        synthesis = 2 * prototype * np.cos(angle - shift)
        self.num_bands, self.taps = num_bands, taps
        self.register_buffer("analysis_filter", torch.tensor(analysis, dtype=torch.float32)[:, None], persistent=False)
        self.register_buffer("synthesis_filter", torch.tensor(synthesis, dtype=torch.float32)[None], persistent=False)
        zero_stuffing = torch.zeros(num_bands, num_bands, num_bands)
        zero_stuffing[range(num_bands), range(num_bands), 0] = num_bands
        self.register_buffer("zero_stuffing", zero_stuffing, persistent=False)

    def analysis(self, waveforms: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(waveforms, (self.taps // 2, self.taps // 2))
        return nn.functional.conv1d(padded, self.analysis_filter.to(waveforms.dtype), stride=self.num_bands)

    def synthesis(self, sub_bands: torch.Tensor) -> torch.Tensor:
        # zero-stuffing by a transposed conv (an export-friendly op), × bands for the energy it spreads out
        upsampled = nn.functional.conv_transpose1d(
            sub_bands, self.zero_stuffing.to(sub_bands.dtype), stride=self.num_bands
        )
        padded = nn.functional.pad(upsampled, (self.taps // 2, self.taps // 2))
        return nn.functional.conv1d(padded, self.synthesis_filter.to(sub_bands.dtype))


def _weight_norm_layers(module: nn.Module) -> list[nn.Module]:
    """The convs that train weight-normed: all of them, except in the iSTFT head (its residual starts at zero)."""
    if getattr(module.config, "generator_head", "waveform") == "istft" and isinstance(module, MelGANGenerator):
        return []
    return [layer for layer in module.modules() if isinstance(layer, _CONV_TYPES)]


def _weight_norm_magnitude(direction: torch.Tensor) -> torch.Tensor:
    """The `g` that makes a weight-normed layer equal to `direction` (norm over all dims but the first)."""
    return torch.linalg.vector_norm(direction.flatten(1), dim=1).view(-1, *[1] * (direction.dim() - 1))


@dataclass
class MelGANGeneratorOutput(ModelOutput):
    """
    waveforms: `(batch, frames * hop_length)` audio in [-1, 1]; padded frames produce padded samples.
    waveform_lengths: `(batch,)` number of valid samples per item, given when a `padding_mask` was passed.
    spectrum: iSTFT head only, `(batch, frames, n_fft // 2 + 1)` complex: the amplitude and the phase the branches
        predicted, before the Griffin-Lim projections (what the amplitude and phase losses train).
    """

    waveforms: torch.Tensor | None = None
    waveform_lengths: torch.Tensor | None = None
    spectrum: torch.Tensor | None = None


@dataclass
class MelGANDiscriminatorOutput(ModelOutput):
    """
    logits: one `(batch, 1, time)` score map per scale (the last layer of each scale).
    feature_maps: per scale, every layer's output (the last one is the score map), for feature matching.
    """

    logits: tuple[torch.Tensor, ...] | None = None
    feature_maps: tuple[tuple[torch.Tensor, ...], ...] | None = None


class MelGANPreTrainedModel(PreTrainedModel):
    """Shared init and weight-norm handling. Weights are always stored weight-normed, so checkpoints load as-is."""

    config: MelGANConfig
    config_class = MelGANConfig
    base_model_prefix = "melgan"
    main_input_name = "input_features"
    input_modalities = "audio"

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default conv init on the direction `v`, `g = |v|`: what the original MelGAN effectively ran."""
        if not isinstance(module, _CONV_TYPES):
            return
        if getattr(module, "starts_at_zero", False):  # the amplitude residual (`AmplitudeHead`)
            init.zeros_(module.weight)
            init.zeros_(module.bias)
            return
        if parametrize.is_parametrized(module, "weight"):
            direction = module.parametrizations.weight.original1
            init.kaiming_uniform_(direction, a=math.sqrt(5))
            init.copy_(module.parametrizations.weight.original0, _weight_norm_magnitude(direction))
        else:
            direction = module.weight
            init.kaiming_uniform_(direction, a=math.sqrt(5))
        if module.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(direction)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(module.bias, -bound, bound)

    @property
    def is_weight_norm_folded(self) -> bool:
        return not any(parametrize.is_parametrized(layer, "weight") for layer in _weight_norm_layers(self))

    def remove_weight_norm(self) -> None:
        """Fold `g * v / |v|` into plain weights, in place: same outputs, less work per forward (inference)."""
        for layer in _weight_norm_layers(self):
            if parametrize.is_parametrized(layer, "weight"):
                parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)

    def apply_weight_norm(self) -> None:
        """Weight-norm every conv (the training form; `g` starts as the norm of the current weight)."""
        for layer in _weight_norm_layers(self):
            if not parametrize.is_parametrized(layer, "weight"):
                weight_norm(layer, dim=0)

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Always save the weight-normed form: transformers silently re-initialises weights in the other form."""
        if not self.is_weight_norm_folded or not _weight_norm_layers(self):
            return super().save_pretrained(save_directory, *args, **kwargs)
        unfolded = type(self)(self.config)
        unfolded.remove_weight_norm()
        unfolded.load_state_dict(self.state_dict())
        unfolded.apply_weight_norm()
        return unfolded.save_pretrained(save_directory, *args, **kwargs)


class MelGANResidualBlock(nn.Module):
    """LeakyReLU → dilated conv k3 (reflect-padded) → LeakyReLU → conv k1, plus a 1x1 conv shortcut."""

    def __init__(self, channels: int, dilation: int, leaky_relu_slope: float) -> None:
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.conv_dilated = ReflectConv1d(channels, channels, kernel_size=3, dilation=dilation, padding=dilation)
        self.conv_pointwise = nn.Conv1d(channels, channels, kernel_size=1)
        self.shortcut = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = nn.functional.leaky_relu(hidden_states, self.leaky_relu_slope)
        residual = self.conv_dilated(residual)
        residual = nn.functional.leaky_relu(residual, self.leaky_relu_slope)
        residual = self.conv_pointwise(residual)
        return self.shortcut(hidden_states) + residual


class MelGANUpsampleBlock(nn.Module):
    """LeakyReLU → transposed conv (kernel 2r, stride r: exactly r× longer) → dilated residual stack."""

    def __init__(
        self, in_channels: int, out_channels: int, ratio: int, n_residual_layers: int, leaky_relu_slope: float
    ) -> None:
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.upsample = nn.ConvTranspose1d(
            in_channels,
            out_channels,
            kernel_size=2 * ratio,
            stride=ratio,
            padding=ratio // 2 + ratio % 2,
            output_padding=ratio % 2,
        )
        self.residual_blocks = nn.ModuleList(
            MelGANResidualBlock(out_channels, 3**layer, leaky_relu_slope) for layer in range(n_residual_layers)
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.upsample(nn.functional.leaky_relu(hidden_states, self.leaky_relu_slope))
        for block in self.residual_blocks:
            hidden_states = block(hidden_states)
        return hidden_states


class MelGANGenerator(MelGANPreTrainedModel):
    """
    The MelGAN generator: log-mel frames → `hop_length` waveform samples per frame. `config.generator_head` picks
    the paper's upsampling stack (`"waveform"`) or the frame-rate amplitude and phase branches with an inverse STFT
    (`"istft"`, see `MelGANConfig`); both take and return the same things.
    """

    def __init__(self, config: MelGANConfig) -> None:
        super().__init__(config)
        if config.generator_head == "istft":
            self._build_istft_head(config)
            return
        channels = config.ngf * 2 ** len(config.upsample_ratios)
        self.conv_pre = ReflectConv1d(config.num_mel_bins, channels, kernel_size=7, padding=3)
        blocks = []
        for ratio in config.upsample_ratios:
            blocks.append(
                MelGANUpsampleBlock(channels, channels // 2, ratio, config.n_residual_layers, config.leaky_relu_slope)
            )
            channels //= 2
        self.upsample_blocks = nn.ModuleList(blocks)
        bands = config.num_bands if config.generator_head == "multiband" else 1
        self.conv_post = ReflectConv1d(channels, bands, kernel_size=7, padding=3)
        if bands > 1:
            self.pqmf = PQMF(bands, config.pqmf_taps, config.pqmf_cutoff, config.pqmf_beta)
        # Reflection padding needs inputs longer than the pad (3 for the k7 convs, the largest dilation in the
        # residual stacks); shorter mels are edge-extended to this many frames and the output is cut back.
        largest_dilation = 3 ** max(config.n_residual_layers - 1, 0)
        self.min_frames = max(
            4,
            *(
                largest_dilation // math.prod(config.upsample_ratios[: i + 1]) + 1
                for i in range(len(config.upsample_ratios))
            ),
        )
        self.apply_weight_norm()
        self.post_init()

    def _build_istft_head(self, config: MelGANConfig) -> None:
        self.front_end = MelGANFeatureExtractor.from_config(config)
        branch = (config.frame_channels, config.frame_dilations, 3, config.leaky_relu_slope)
        self.amplitude = AmplitudeHead(self.front_end, *branch)
        # The phase as an unnormalised (real, imaginary) pair per bin: a direction with no wrap-around to learn.
        self.phase = FrameNet(config.num_mel_bins, branch[0], 2 * (config.n_fft // 2 + 1), *branch[1:])
        self.min_frames = 4  # the STFT's reflect padding needs more samples than (n_fft - hop) / 2
        self.post_init()

    @property
    def receptive_field_frames(self) -> int:
        """How many mel frames on either side can change an output sample (rounded up); chunked decoding adds this
        much context. Waveform head: conv_pre's k7 reaches 3, then the upsampling blocks."""
        config = self.config
        if config.generator_head == "istft":
            # the branches' convs (k3), then per Griffin-Lim projection and for the final iSTFT one window's reach
            window_frames = math.ceil(config.n_fft / config.hop_length)
            return 1 + sum(config.frame_dilations) + (config.phase_iterations + 1) * window_frames
        reach = 3 + upsampling_reach(config.upsample_ratios, config.n_residual_layers)
        if config.generator_head == "multiband":  # the synthesis filters reach taps / 2 samples a side
            reach += config.pqmf_taps / 2 / config.hop_length
        return math.ceil(reach)

    @property
    def frame_period(self) -> int:
        """
        Frames after which the output repeats its dependence on the frame index: `n_fft / gcd(n_fft, hop)` with
        `phase_advance` (the bin-centre phase advance comes round), else 1. Chunked decoding starts chunks on
        multiples of it, so chunks equal the one-shot result.
        """
        config = self.config
        if config.generator_head != "istft" or not config.phase_advance:
            return 1
        return config.n_fft // math.gcd(config.n_fft, config.hop_length)

    def _bin_centre_advance(
        self, frames: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of `2π k hop t / n_fft` for bin k and frame t, `(bins, frames)`: a bin-centre tone's phase."""
        n_fft = self.config.n_fft
        bins = torch.arange(n_fft // 2 + 1, device=device)[:, None]
        cycles = (bins * self.config.hop_length * torch.arange(frames, device=device)) % n_fft  # exact integers
        angle = cycles.to(dtype) * (2 * math.pi / n_fft)
        return angle.cos(), angle.sin()

    def _istft_waveforms(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Amplitude and phase at frame rate → a few fast Griffin-Lim projections → inverse STFT."""
        normalised = self.amplitude.normalise(log_mel)
        amplitude = self.amplitude(log_mel, normalised).float().exp()  # (batch, bins, frames)
        real, imaginary = self.phase(normalised).float().chunk(2, dim=1)
        with torch.autocast(log_mel.device.type, enabled=False):  # FFTs and phases in fp32, under bf16 autocast too
            return self._consistent_waveforms(amplitude, real, imaginary)

    def _consistent_waveforms(
        self, amplitude: torch.Tensor, real: torch.Tensor, imaginary: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The phase branch's (real, imaginary) pairs at `amplitude`, made consistent by the projections → audio,
        and the predicted spectrum `(batch, frames, bins)` before them (None while exporting: no complex tensors)."""
        if self.config.phase_advance:
            cos, sin = self._bin_centre_advance(real.shape[-1], real.device, real.dtype)
            real, imaginary = real * cos - imaginary * sin, real * sin + imaginary * cos
        real, imaginary = _with_amplitude(amplitude, real, imaginary)
        predicted = torch.complex(real, imaginary).transpose(1, 2) if not _exporting() else None
        front_end, momentum = self.front_end, self.config.phase_momentum
        previous = None
        for _ in range(self.config.phase_iterations):
            projected = front_end.spectrogram_parts(front_end.inverse_spectrogram_parts(real, imaginary))
            accelerated = projected
            if previous is not None:  # fast Griffin-Lim (Perraudin et al., 2013)
                accelerated = tuple(
                    now + momentum * (now - before) for now, before in zip(projected, previous, strict=True)
                )
            previous = projected
            real, imaginary = _with_amplitude(amplitude, *accelerated)
        return front_end.inverse_spectrogram_parts(real, imaginary).clamp(-1.0, 1.0), predicted

    def forward(
        self,
        input_features: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> MelGANGeneratorOutput | tuple[torch.Tensor, ...]:
        r"""
        input_features: `(batch, frames, num_mel_bins)` or `(frames, num_mel_bins)` log-mels in the config's preset.
        padding_mask: `(batch, frames)`, 1 for real frames and 0 for padding; gives `waveform_lengths`.
        """
        input_features = batched_log_mel(input_features, self.config.num_mel_bins)
        frames = input_features.shape[1]
        hidden_states = input_features.transpose(1, 2)
        if frames < self.min_frames:
            hidden_states = nn.functional.pad(hidden_states, (0, self.min_frames - frames), mode="replicate")
        spectrum = None
        if self.config.generator_head == "istft":
            waveforms, spectrum = self._istft_waveforms(hidden_states.transpose(1, 2))
            spectrum = spectrum[:, :frames] if spectrum is not None else None
        else:
            hidden_states = self.conv_pre(hidden_states)
            for block in self.upsample_blocks:
                hidden_states = block(hidden_states)
            hidden_states = nn.functional.leaky_relu(hidden_states, self.config.leaky_relu_slope)
            waveforms = torch.tanh(self.conv_post(hidden_states))
            if self.config.generator_head == "multiband":
                waveforms = self.pqmf.synthesis(waveforms.float()).clamp(-1.0, 1.0)
            waveforms = waveforms.squeeze(1)
        waveforms = waveforms[:, : frames * self.config.hop_length]

        waveform_lengths = None
        if padding_mask is not None:
            if padding_mask.dim() == 1:
                padding_mask = padding_mask.unsqueeze(0)
            waveform_lengths = padding_mask.sum(dim=-1) * self.config.hop_length

        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (waveforms,) if waveform_lengths is None else (waveforms, waveform_lengths)
        return MelGANGeneratorOutput(waveforms=waveforms, waveform_lengths=waveform_lengths, spectrum=spectrum)


def _with_amplitude(
    amplitude: torch.Tensor, real: torch.Tensor, imaginary: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the direction of each (real, imaginary) pair and give it `amplitude` (eps: a zero pair stays finite)."""
    scale = amplitude * torch.rsqrt(real.square() + imaginary.square() + 1e-12)
    return real * scale, imaginary * scale


class MelGANScaleDiscriminator(nn.Module):
    """One scale of the multi-scale discriminator: wide conv, strided grouped convs, two output convs."""

    def __init__(self, config: MelGANConfig) -> None:
        super().__init__()
        stride = config.downsampling_factor
        layers = [ReflectConv1d(1, config.ndf, kernel_size=15, padding=7)]
        channels = config.ndf
        for _ in range(config.n_layers_D):
            out_channels = min(channels * stride, 1024)
            layers.append(
                nn.Conv1d(
                    channels,
                    out_channels,
                    kernel_size=stride * 10 + 1,
                    stride=stride,
                    padding=stride * 5,
                    groups=math.gcd(max(1, channels // 4), out_channels, channels),
                )
            )
            channels = out_channels
        out_channels = min(channels * 2, 1024)
        layers.append(nn.Conv1d(channels, out_channels, kernel_size=5, padding=2))
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Conv1d(out_channels, 1, kernel_size=3, padding=1)
        self.leaky_relu_slope = config.leaky_relu_slope

    def forward(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feature_maps = []
        hidden_states = waveforms
        for layer in self.layers:
            hidden_states = nn.functional.leaky_relu(layer(hidden_states), self.leaky_relu_slope)
            feature_maps.append(hidden_states)
        feature_maps.append(self.conv_out(hidden_states))
        return tuple(feature_maps)


class MelGANDiscriminator(MelGANPreTrainedModel):
    """Multi-scale discriminator: the same architecture on the waveform and its 2× and 4× average-pooled copies."""

    main_input_name = "waveforms"

    def __init__(self, config: MelGANConfig) -> None:
        super().__init__(config)
        self.discriminators = nn.ModuleList(MelGANScaleDiscriminator(config) for _ in range(config.num_D))
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)
        self.apply_weight_norm()
        self.post_init()

    def forward(
        self, waveforms: torch.Tensor, return_dict: bool | None = None
    ) -> MelGANDiscriminatorOutput | tuple[tuple, tuple]:
        """waveforms: `(batch, samples)` or `(batch, 1, samples)`."""
        if waveforms.dim() == 2:
            waveforms = waveforms.unsqueeze(1)
        feature_maps = []
        for index, discriminator in enumerate(self.discriminators):
            if index:
                waveforms = self.downsample(waveforms)
            feature_maps.append(discriminator(waveforms))
        logits = tuple(maps[-1] for maps in feature_maps)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return logits, tuple(feature_maps)
        return MelGANDiscriminatorOutput(logits=logits, feature_maps=tuple(feature_maps))


__all__ = [
    "PQMF",
    "MelGANDiscriminator",
    "MelGANDiscriminatorOutput",
    "MelGANGenerator",
    "MelGANGeneratorOutput",
    "MelGANPreTrainedModel",
]
