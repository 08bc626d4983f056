"""The MelGAN losses (Kumar et al., 2019): hinge adversarial and feature matching; plus HiFi-GAN's mel L1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

FeatureMaps = Sequence[Sequence[torch.Tensor]]


def discriminator_hinge_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over scales of mean relu(1 − D(x)) + mean relu(1 + D(G(s)))."""
    return sum(
        F.relu(1 - real).mean() + F.relu(1 + fake).mean() for real, fake in zip(real_logits, fake_logits, strict=True)
    )


def generator_adversarial_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over scales of −mean D(G(s))."""
    return sum(-fake.mean() for fake in fake_logits)


def feature_matching_loss(real_maps: FeatureMaps, fake_maps: FeatureMaps) -> torch.Tensor:
    """
    L1 between the discriminator's intermediate feature maps on real and generated audio (score maps excluded),
    weighted as in the reference code: 1 / num_scales per scale and 4 / (layers + 1) per layer.
    """
    total = 0.0
    for real_scale, fake_scale in zip(real_maps, fake_maps, strict=True):
        layer_weight = 4.0 / (len(real_scale) - 2) / len(real_maps)  # 4 / (n_layers_D + 1) / num_D
        for real, fake in zip(real_scale[:-1], fake_scale[:-1], strict=True):
            total = total + layer_weight * F.l1_loss(fake, real.detach())
    return total


def mel_l1_loss(predicted_mel: torch.Tensor, target_mel: torch.Tensor) -> torch.Tensor:
    """Mean absolute log-mel difference (both from the model's own feature extractor)."""
    return F.l1_loss(predicted_mel, target_mel)
