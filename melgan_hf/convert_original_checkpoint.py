"""Convert a generator saved by the original melgan-neurips code (`torch.save(netG.state_dict())`) to a
`MelGANVocoder.from_pretrained`-ready folder on the `"melgan"` preset.

    python -m melgan_hf.convert_original_checkpoint ORIGINAL.pt OUTPUT_DIR

The original generator is one `nn.Sequential` named `model`: 0 pad, 1 conv_pre, then per upsampling ratio a
LeakyReLU, the transposed conv and `n_residual_layers` ResnetBlocks (`block.2` dilated conv, `block.4` 1x1 conv,
`shortcut`), then LeakyReLU, pad, conv_post, tanh. Architecture sizes are read off the weights' shapes.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

import torch

from .configuration_melgan import MelGANConfig
from .modeling_melgan import MelGANGenerator, _weight_norm_magnitude
from .pipelines import MelGANVocoder

_KEY = re.compile(r"^model\.(\d+)\.(.+)$")
_RESBLOCK_LAYERS = {"block.2": "conv_dilated", "block.4": "conv_pointwise", "shortcut": "shortcut"}


def _group_by_layer(state_dict: dict[str, torch.Tensor]) -> dict[tuple[int, str], dict[str, torch.Tensor]]:
    """`{(sequential index, sub-layer path): {"g"/"v"/"weight"/"bias": tensor}}`, weight-norm spelling resolved."""
    layers: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        match = _KEY.match(key)
        if not match:
            raise ValueError(f"Unexpected key {key!r}: not an original MelGAN generator state dict (keys 'model.N.*').")
        index, rest = int(match.group(1)), match.group(2)
        for suffix, name in (
            ("weight_g", "g"),
            ("weight_v", "v"),
            ("parametrizations.weight.original0", "g"),
            ("parametrizations.weight.original1", "v"),
            ("weight", "weight"),
            ("bias", "bias"),
        ):
            if rest == suffix or rest.endswith("." + suffix):
                path = rest[: -len(suffix)].rstrip(".")
                layers.setdefault((index, path), {})[name] = tensor
                break
        else:
            raise ValueError(f"Unexpected key {key!r} in the original checkpoint.")
    return layers


def infer_config(state_dict: dict[str, torch.Tensor], **overrides: object) -> MelGANConfig:
    """The `MelGANConfig` ("melgan" preset) whose generator has this original state dict's shapes."""
    layers = _group_by_layer(state_dict)
    indices = sorted({index for index, _ in layers})
    top_level = [index for index in indices if (index, "") in layers]
    upsample_indices = top_level[1:-1]
    resblock_counts = []
    for position, index in enumerate(upsample_indices):
        end = upsample_indices[position + 1] if position + 1 < len(upsample_indices) else top_level[-1]
        resblock_counts.append(len({i for i, path in layers if index < i < end and path}))
    if len(set(resblock_counts)) != 1:
        raise ValueError(f"Unequal residual stacks per scale {resblock_counts}: not a MelGAN generator.")

    def weight_shape(index: int) -> torch.Size:
        tensors = layers[(index, "")]
        return (tensors.get("v") if "v" in tensors else tensors["weight"]).shape

    first, last = weight_shape(top_level[0]), weight_shape(top_level[-1])
    ratios = [weight_shape(index)[-1] // 2 for index in upsample_indices]
    return MelGANConfig.from_preset(
        "melgan",
        num_mel_bins=first[1],
        ngf=last[1],
        upsample_ratios=ratios,
        n_residual_layers=resblock_counts[0],
        hop_length=math.prod(ratios),
        **overrides,
    )


def convert_state_dict(state_dict: dict[str, torch.Tensor], config: MelGANConfig) -> dict[str, torch.Tensor]:
    """Rename the original keys to `MelGANGenerator`'s (weight-normed; plain weights become `g = |w|, v = w`)."""
    layers = _group_by_layer(state_dict)
    top_level = sorted(index for index, path in layers if path == "")
    names = {top_level[0]: "conv_pre", top_level[-1]: "conv_post"}
    for block, index in enumerate(top_level[1:-1]):
        names[index] = f"upsample_blocks.{block}.upsample"
        for layer in range(config.n_residual_layers):
            for original, ours in _RESBLOCK_LAYERS.items():
                names[(index + 1 + layer, original)] = f"upsample_blocks.{block}.residual_blocks.{layer}.{ours}"
    converted: dict[str, torch.Tensor] = {}
    for (index, path), tensors in layers.items():
        target = names.get(index) if path == "" else names.get((index, path))
        if target is None:
            raise ValueError(f"Layer model.{index}.{path} has no counterpart in MelGANGenerator.")
        direction = tensors.get("v", tensors.get("weight"))
        magnitude = tensors["g"] if "g" in tensors else _weight_norm_magnitude(direction)
        converted[f"{target}.parametrizations.weight.original0"] = magnitude
        converted[f"{target}.parametrizations.weight.original1"] = direction
        converted[f"{target}.bias"] = tensors["bias"]
    return converted


def convert_original_checkpoint(checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike) -> MelGANVocoder:
    """Load the original state dict (tensors only: `weights_only=True`, never arbitrary pickles), convert, save."""
    state_dict = torch.load(Path(checkpoint_path), map_location="cpu", weights_only=True)
    if isinstance(state_dict, dict) and "state_dict" in state_dict:
        state_dict = state_dict["state_dict"]
    config = infer_config(state_dict)
    generator = MelGANGenerator(config)
    generator.load_state_dict(convert_state_dict(state_dict, config), strict=True)
    vocoder = MelGANVocoder(generator.eval())
    vocoder.save_pretrained(output_dir)
    return vocoder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="generator state dict saved by the original code (e.g. best_netG.pt)")
    parser.add_argument("output_dir", help="folder to write config.json, model.safetensors, preprocessor_config.json")
    args = parser.parse_args(argv)
    vocoder = convert_original_checkpoint(args.checkpoint, args.output_dir)
    print(
        f"Converted {args.checkpoint} → {args.output_dir} "
        f"({sum(p.numel() for p in vocoder.generator.parameters()):,} parameters, preset 'melgan')"
    )


if __name__ == "__main__":
    main()
