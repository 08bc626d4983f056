"""
The MelGAN generator re-laid-out for fast inference: the same function as `MelGANGenerator`, computed differently.

What makes it fast (benchmarks/bench_inference.py); none of it changes the fp32 result beyond summation order:

- activations live in channels-last `(batch, 1, time, channels)` and every conv is a 2-D conv over that layout:
  oneDNN's native format on the CPU, so no per-call reorders of the activations;
- each `ConvTranspose1d(kernel 2r, stride r)` becomes a kernel-2 conv with `r × out_channels` outputs, one group
  per output phase (polyphase form); in channels-last memory its output already *is* the upsampled signal, so the
  interleaving is a free reshape. PyTorch's CPU transposed conv ran at a quarter of the speed of a plain conv;
- after the first upsampling block the signal is computed in tiles that stay in cache (`MelGANInferenceGenerator`);
- on x86 CPUs each conv runs with its activation or residual sum as one oneDNN call, on weights reordered once;
- precision per upsampling block, so bf16 can go where it is fast and harmless (see `block_dtypes`).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional

from .modeling_melgan import MelGANGenerator, MelGANUpsampleBlock, reflect_pad, upsampling_reach

CHANNELS_LAST = torch.channels_last

# oneDNN's fused conv ops (what inductor emits on x86 CPUs); elsewhere the standard ops compute the same
_FUSED_CONV = (
    torch.backends.mkldnn.is_available()
    and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    and torch.backends.cpu.get_cpu_capability().startswith("AVX")
)


class _Conv(nn.Module):
    """
    A Conv1d's weights as a `(out, in, 1, kernel)` 2-D conv in a fixed dtype, padding its input as the Conv1d did
    (`reflect_padding` samples a side, or `zero_padding`); casts its input to that dtype.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        dtype: torch.dtype,
        dilation: int = 1,
        reflect_padding: int = 0,
        zero_padding: int = 0,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().unsqueeze(2).to(dtype).contiguous())
        self.register_buffer("bias", bias.detach().to(dtype) if bias is not None else None)
        self.dilation, self.reflect_padding, self.zero_padding = dilation, reflect_padding, zero_padding
        self.fused = fused and _FUSED_CONV
        self.packed_weight = self._pack()

    def _pack(self) -> torch.Tensor | None:
        """The weight in oneDNN's blocked layout for the fused ops: reordered once, not on every call."""
        if not self.fused or self.weight.device.type != "cpu":
            return None
        if self.weight.dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return None  # oneDNN's bf16 needs AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT; the standard ops cope
        geometry = ([0, self.reflect_padding or self.zero_padding], [1, 1], [1, self.dilation], 1)
        size_hint = [1, self.weight.shape[1], 1, 4096]  # the packed weight serves any input length
        return torch.ops.mkldnn._reorder_convolution_weight(self.weight, *geometry, size_hint)

    def __getstate__(self) -> dict:
        # oneDNN's opaque tensors cannot be copied or pickled: copies pack their own (`__setstate__`)
        return {**self.__dict__, "packed_weight": None}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.packed_weight = self._pack()

    @classmethod
    def of(cls, layer: nn.Conv1d, dtype: torch.dtype, fused: bool) -> _Conv:
        if layer.padding_mode != "reflect" and layer.padding[0]:
            raise ValueError(f"expected reflect padding or none, got {layer.padding_mode!r} for {layer}")
        return cls(layer.weight, layer.bias, dtype, layer.dilation[0], layer.padding[0], fused=fused)

    def forward(
        self,
        hidden_states: torch.Tensor,
        *,
        at_edges: bool = True,
        slope: float | None = None,
        add_to: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        The conv, then `leaky_relu(slope)` or `add_to += ` (in place): with `packed_weight`, one oneDNN call on
        the CPU, which saves a pass over memory per activation and sum. Away from the signal's edges
        (`at_edges=False`, a tile's halo) reflect padding becomes zero padding: it only changes samples that are
        discarded, and oneDNN pads zeros for free where a reflection costs a copy.
        """
        hidden_states = hidden_states.to(self.weight.dtype)
        padding = self.zero_padding
        if self.reflect_padding and at_edges:
            hidden_states = reflect_pad(hidden_states, self.reflect_padding)
        elif self.reflect_padding:
            padding = self.reflect_padding
        if self.packed_weight is not None and hidden_states.device.type == "cpu":
            geometry = ([0, padding], [1, 1], [1, self.dilation], 1)
            arguments = (hidden_states, self.packed_weight, self.bias, *geometry)
            if add_to is not None:
                return torch.ops.mkldnn._convolution_pointwise_.binary(add_to, *arguments, "add", 1.0, None, [], None)
            attribute, scalars = ("leaky_relu", [slope]) if slope is not None else ("none", [])
            return torch.ops.mkldnn._convolution_pointwise(*arguments, attribute, scalars, "")
        output = functional.conv2d(
            hidden_states, self.weight, self.bias, padding=(0, padding), dilation=(1, self.dilation)
        )
        if add_to is not None:
            return add_to.add_(output)
        return functional.leaky_relu(output, slope) if slope is not None else output


class _OutputConv(nn.Module):
    """
    The generator's last conv (k7 to one channel, reflect-padded) and its tanh. oneDNN runs a one-channel conv at a
    fraction of its usual speed, so this computes the 7 taps' products as a 1x1 conv to 7 channels (padded to 8),
    pads those along time as the input would have been (padding commutes with a 1x1 conv), and sums each output's
    7 shifted taps through views: a third of the time.
    """

    def __init__(self, layer: nn.Conv1d, fused: bool) -> None:
        super().__init__()
        out_channels, in_channels, kernel_size = layer.weight.shape
        if out_channels != 1 or layer.padding[0] != kernel_size // 2:
            raise ValueError(f"expected a 'same'-padded conv to one channel, got {layer}")
        taps = torch.zeros(kernel_size + 1, in_channels, 1, device=layer.weight.device)
        taps[:kernel_size] = layer.weight.detach()[0].T.unsqueeze(-1)
        self.taps = _Conv(taps, None, torch.float32, fused=fused)
        self.register_buffer("bias", layer.bias.detach().float())
        self.kernel_size, self.padding = kernel_size, layer.padding[0]

    def forward(self, hidden_states: torch.Tensor, at_edges: bool) -> torch.Tensor:
        batch, length = hidden_states.shape[0], hidden_states.shape[-1]
        products = self.taps(hidden_states)  # (batch, 8, 1, length), channels-last: (batch, length, 8) in memory
        products = products.permute(0, 2, 3, 1).reshape(batch, length, self.kernel_size + 1)
        pad = (0, 0, self.padding, self.padding)
        products = functional.pad(products, pad, mode="reflect") if at_edges else functional.pad(products, pad)
        # output t = Σ_k products[t + k, k]: the diagonal of the window of rows t … t + 6 (views, no copies)
        windows = products[..., : self.kernel_size].unfold(1, self.kernel_size, 1)  # (batch, length, tap, row)
        return torch.tanh(windows.diagonal(dim1=2, dim2=3).sum(-1) + self.bias)


class _PolyphaseUpsample(nn.Module):
    """
    `ConvTranspose1d(kernel_size=2r, stride=r, padding=p, output_padding=q)` as one kernel-2 conv. Output sample
    `t = j·r + m - p` is `W[:, :, m]ᵀ x[j] + W[:, :, m + r]ᵀ x[j - 1] + b`: conv output channel `m·out + c` holds
    phase `m` of channel `c`, and channels-last memory stores exactly the interleaved signal.
    """

    def __init__(self, layer: nn.ConvTranspose1d, dtype: torch.dtype, fused: bool) -> None:
        super().__init__()
        ratio = layer.stride[0]
        weight = layer.weight.detach()  # (in, out, 2r)
        if weight.shape[-1] != 2 * ratio:
            raise ValueError(f"expected kernel_size = 2 × stride, got {weight.shape[-1]} and {ratio}")
        # taps: [x[j - 1], x[j]] ← [W[..., m + r], W[..., m]]; phases stacked on the output-channel axis
        taps = torch.stack([weight[..., ratio:], weight[..., :ratio]], dim=-1)  # (in, out, r, 2)
        polyphase_weight = taps.permute(2, 1, 0, 3).reshape(ratio * layer.out_channels, layer.in_channels, 2)
        self.conv = _Conv(polyphase_weight, layer.bias.detach().repeat(ratio), dtype, zero_padding=1, fused=fused)
        self.ratio, self.padding, self.output_padding = ratio, layer.padding[0], layer.output_padding[0]
        self.out_channels = layer.out_channels

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, frames = hidden_states.shape[0], hidden_states.shape[-1]
        phases = self.conv(hidden_states)  # (batch, r·out, 1, frames + 1), channels-last
        upsampled = phases.permute(0, 2, 3, 1).reshape(batch, 1, (frames + 1) * self.ratio, self.out_channels)
        length = frames * self.ratio + self.ratio - 2 * self.padding + self.output_padding
        return upsampled.permute(0, 3, 1, 2)[..., self.padding : self.padding + length]


class _Stage(nn.Module):
    """
    Consecutive upsampling blocks (in `dtypes`), after `conv_pre` or before the output conv `conv_post`: the part of
    the generator before tiling starts, or the part run per tile (each one graph for `torch.compile`).
    """

    def __init__(
        self,
        blocks: list[MelGANUpsampleBlock],
        dtypes: tuple[torch.dtype, ...],
        slope: float,
        fused: bool,
        conv_pre: nn.Conv1d | None = None,
        conv_post: nn.Conv1d | None = None,
    ) -> None:
        super().__init__()
        self.slope = slope
        self.conv_pre = _Conv.of(conv_pre, torch.float32, fused) if conv_pre is not None else None
        self.upsamples = nn.ModuleList()
        self.residual_stacks = nn.ModuleList()
        for block, dtype in zip(blocks, dtypes, strict=True):
            self.upsamples.append(_PolyphaseUpsample(block.upsample, dtype, fused))
            self.residual_stacks.append(
                nn.ModuleList(
                    nn.ModuleList(
                        _Conv.of(layer, dtype, fused)
                        for layer in (residual.conv_dilated, residual.conv_pointwise, residual.shortcut)
                    )
                    for residual in block.residual_blocks
                )
            )
        self.conv_post = _OutputConv(conv_post, fused) if conv_post is not None else None

    def forward(self, hidden_states: torch.Tensor, at_edges: bool) -> torch.Tensor:
        slope = self.slope
        if self.conv_pre is not None:
            hidden_states = self.conv_pre(hidden_states, at_edges=at_edges)
        for upsample, residual_stack in zip(self.upsamples, self.residual_stacks, strict=True):
            hidden_states = upsample(functional.leaky_relu(hidden_states, slope))
            for conv_dilated, conv_pointwise, shortcut in residual_stack:
                shortcut_states = shortcut(hidden_states)
                # in place: the block's own tensor, no longer needed; reusing its memory keeps the tile in cache
                residual = conv_dilated(functional.leaky_relu_(hidden_states, slope), at_edges=at_edges, slope=slope)
                hidden_states = conv_pointwise(residual, add_to=shortcut_states)
        if self.conv_post is not None:
            hidden_states = functional.leaky_relu(hidden_states.float(), slope)
            hidden_states = self.conv_post(hidden_states, at_edges)
        return hidden_states


class MelGANInferenceGenerator(nn.Module):
    """
    A folded `MelGANGenerator`'s weights in the fast layout, upsampling block `i` computing in `block_dtypes[i]`
    (the first and last convs always in fp32). Inference only: weights are buffers, nothing trains.
    Call with `(batch, frames, num_mel_bins)` log-mels, `frames ≥ generator.min_frames`; returns float32
    `(batch, frames * hop_length)`.

    The first upsampling block (`head`) runs on the whole signal; the rest (`tail`) in tiles of `tile_frames` mel
    frames, each with a halo of `halo` samples a side that covers what the tail reaches and is discarded: the same
    result, but a tile's activations stay in cache, where whole-signal ones (tens of MB) stream through memory at
    every layer. `fused_ops` runs each conv with its activation or sum as one oneDNN call on x86 CPUs; elsewhere,
    or without it, the same function runs as standard ops.
    """

    def __init__(
        self,
        generator: MelGANGenerator,
        block_dtypes: tuple[torch.dtype, ...],
        tile_frames: int = 128,
        fused_ops: bool = True,
    ) -> None:
        super().__init__()
        if not generator.is_weight_norm_folded:
            raise ValueError("fold weight norm first (MelGANGenerator.remove_weight_norm)")
        blocks = list(generator.upsample_blocks)
        if len(block_dtypes) != len(blocks):
            raise ValueError(f"need one dtype per upsampling block ({len(blocks)})")
        config = generator.config
        self.hop_length, self.min_frames = config.hop_length, generator.min_frames
        self.block_dtypes = tuple(block_dtypes)
        self.tile_frames, self.first_ratio = tile_frames, config.upsample_ratios[0]
        # in samples after the first upsampling block, where tiling starts
        self.halo = math.ceil(upsampling_reach(config.upsample_ratios[1:], config.n_residual_layers))
        slope = config.leaky_relu_slope  # `_Conv` checks where the fused ops exist
        self.head = _Stage(blocks[:1], self.block_dtypes[:1], slope, fused_ops, conv_pre=generator.conv_pre)
        self.tail = _Stage(blocks[1:], self.block_dtypes[1:], slope, fused_ops, conv_post=generator.conv_post)

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        batch, frames = input_features.shape[:2]
        hidden_states = input_features.transpose(1, 2)
        if frames < self.min_frames:  # as MelGANGenerator: edge-extend, cut the output back below
            hidden_states = functional.pad(hidden_states, (0, self.min_frames - frames), mode="replicate")
        hidden_states = self.head(hidden_states.unsqueeze(2).contiguous(memory_format=CHANNELS_LAST), True)

        length, ratio = hidden_states.shape[-1], self.hop_length // self.first_ratio  # the tail's upsampling
        tiles = max(1, round(length / (self.tile_frames * self.first_ratio)))
        bounds = [round(index * length / tiles) for index in range(tiles + 1)]
        waveforms = torch.empty(batch, length * ratio, device=hidden_states.device)
        for start, end in itertools.pairwise(bounds):
            left, right = max(0, start - self.halo), min(length, end + self.halo)
            tile = hidden_states[..., left:right].contiguous(memory_format=CHANNELS_LAST)
            waveform = self.tail(tile, left == 0 or right == length).reshape(batch, -1)
            waveforms[:, start * ratio : end * ratio] = waveform[:, (start - left) * ratio : (end - left) * ratio]
        return waveforms[:, : frames * self.hop_length]


def native_bf16(device: torch.device) -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 convs are ~2× fp32's speed."""
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


__all__ = ["MelGANInferenceGenerator", "native_bf16"]
