"""
The MelGAN generator re-laid-out for fast inference: the same function as `MelGANGenerator`, computed differently.

Three changes make up the speed (benchmarks/bench_inference.py), none of which changes the fp32 result beyond
summation order:

- activations live in channels-last `(batch, 1, time, channels)` and every conv is a 2-D conv over that layout:
  oneDNN's native format on the CPU, so no per-call reorders of the activations;
- each `ConvTranspose1d(kernel 2r, stride r)` becomes a kernel-2 conv with `r × out_channels` outputs, one group
  per output phase (polyphase form); in channels-last memory its output already *is* the upsampled signal, so the
  interleaving is a free reshape. PyTorch's CPU transposed conv ran at a quarter of the speed of a plain conv;
- precision per upsampling block, so bf16 can go where it is fast and harmless (see `block_dtypes`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from .modeling_melgan import MelGANGenerator, reflect_pad

CHANNELS_LAST = torch.channels_last


class _Conv(nn.Module):
    """
    A Conv1d's weights as a `(out, in, 1, kernel)` 2-D conv in a fixed dtype, reflect-padding its input as the
    Conv1d did (`reflect_padding` samples a side); casts its input to that dtype.
    """

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor, dtype: torch.dtype, dilation: int = 1, reflect_padding: int = 0
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().unsqueeze(2).to(dtype).contiguous())
        self.register_buffer("bias", bias.detach().to(dtype))
        self.dilation, self.reflect_padding = dilation, reflect_padding

    @classmethod
    def of(cls, layer: nn.Conv1d, dtype: torch.dtype) -> _Conv:
        if layer.padding_mode != "reflect" and layer.padding[0]:
            raise ValueError(f"expected reflect padding or none, got {layer.padding_mode!r} for {layer}")
        return cls(layer.weight, layer.bias, dtype, layer.dilation[0], layer.padding[0])

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.reflect_padding:
            hidden_states = reflect_pad(hidden_states, self.reflect_padding)
        return functional.conv2d(
            hidden_states.to(self.weight.dtype), self.weight, self.bias, dilation=(1, self.dilation)
        )


class _PolyphaseUpsample(nn.Module):
    """
    `ConvTranspose1d(kernel_size=2r, stride=r, padding=p, output_padding=q)` as one kernel-2 conv. Output sample
    `t = j·r + m - p` is `W[:, :, m]ᵀ x[j] + W[:, :, m + r]ᵀ x[j - 1] + b`: conv output channel `m·out + c` holds
    phase `m` of channel `c`, and channels-last memory stores exactly the interleaved signal.
    """

    def __init__(self, layer: nn.ConvTranspose1d, dtype: torch.dtype) -> None:
        super().__init__()
        ratio = layer.stride[0]
        weight = layer.weight.detach()  # (in, out, 2r)
        if weight.shape[-1] != 2 * ratio:
            raise ValueError(f"expected kernel_size = 2 × stride, got {weight.shape[-1]} and {ratio}")
        # taps: [x[j - 1], x[j]] ← [W[..., m + r], W[..., m]]; phases stacked on the output-channel axis
        taps = torch.stack([weight[..., ratio:], weight[..., :ratio]], dim=-1)  # (in, out, r, 2)
        polyphase_weight = taps.permute(2, 1, 0, 3).reshape(ratio * layer.out_channels, layer.in_channels, 2)
        self.conv = _Conv(polyphase_weight, layer.bias.detach().repeat(ratio), dtype)
        self.ratio, self.padding, self.output_padding = ratio, layer.padding[0], layer.output_padding[0]
        self.out_channels = layer.out_channels

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, frames = hidden_states.shape[0], hidden_states.shape[-1]
        phases = self.conv(functional.pad(hidden_states, (1, 1)))  # (batch, r·out, 1, frames + 1), channels-last
        upsampled = phases.permute(0, 2, 3, 1).reshape(batch, 1, (frames + 1) * self.ratio, self.out_channels)
        length = frames * self.ratio + self.ratio - 2 * self.padding + self.output_padding
        return upsampled.permute(0, 3, 1, 2)[..., self.padding : self.padding + length]


class MelGANInferenceGenerator(nn.Module):
    """
    A folded `MelGANGenerator`'s weights in the fast layout, upsampling block `i` computing in `block_dtypes[i]`
    (the first and last convs always in fp32). Inference only: weights are buffers, nothing trains.
    Call with `(batch, frames, num_mel_bins)` log-mels, `frames ≥ generator.min_frames`; returns float32
    `(batch, frames * hop_length)`.
    """

    def __init__(self, generator: MelGANGenerator, block_dtypes: tuple[torch.dtype, ...]) -> None:
        super().__init__()
        if not generator.is_weight_norm_folded:
            raise ValueError("fold weight norm first (MelGANGenerator.remove_weight_norm)")
        if len(block_dtypes) != len(generator.upsample_blocks):
            raise ValueError(f"need one dtype per upsampling block ({len(generator.upsample_blocks)})")
        self.slope = generator.config.leaky_relu_slope
        self.hop_length, self.min_frames = generator.config.hop_length, generator.min_frames
        self.block_dtypes = tuple(block_dtypes)
        self.conv_pre = _Conv.of(generator.conv_pre, torch.float32)
        self.upsamples = nn.ModuleList()
        self.residual_stacks = nn.ModuleList()
        for block, dtype in zip(generator.upsample_blocks, block_dtypes, strict=True):
            self.upsamples.append(_PolyphaseUpsample(block.upsample, dtype))
            self.residual_stacks.append(
                nn.ModuleList(
                    nn.ModuleList(
                        [
                            _Conv.of(residual.conv_dilated, dtype),
                            _Conv.of(residual.conv_pointwise, dtype),
                            _Conv.of(residual.shortcut, dtype),
                        ]
                    )
                    for residual in block.residual_blocks
                )
            )
        self.conv_post = _Conv.of(generator.conv_post, torch.float32)

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        slope, frames = self.slope, input_features.shape[1]
        hidden_states = input_features.transpose(1, 2)
        if frames < self.min_frames:  # as MelGANGenerator: edge-extend, cut the output back below
            hidden_states = functional.pad(hidden_states, (0, self.min_frames - frames), mode="replicate")
        hidden_states = hidden_states.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST)
        hidden_states = self.conv_pre(hidden_states)
        for upsample, residual_stack in zip(self.upsamples, self.residual_stacks, strict=True):
            hidden_states = upsample(functional.leaky_relu(hidden_states, slope))
            for conv_dilated, conv_pointwise, shortcut in residual_stack:
                residual = functional.leaky_relu(hidden_states, slope)
                residual = conv_dilated(residual)
                residual = conv_pointwise(functional.leaky_relu(residual, slope))
                # summed in fp32: a bf16 sum rounds once more per block (held-out speech: log-mel L1 ≤ 0.018, not 0.015)
                hidden_states = shortcut(hidden_states).float() + residual.float()
        hidden_states = functional.leaky_relu(hidden_states.float(), slope)
        waveforms = torch.tanh(self.conv_post(hidden_states))
        return waveforms.reshape(waveforms.shape[0], -1)[:, : frames * self.hop_length]


def native_bf16(device: torch.device) -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 convs are ~2× fp32's speed."""
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


__all__ = ["MelGANInferenceGenerator", "native_bf16"]
