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


def travel_loss(source_vectors: torch.Tensor, converted_vectors: torch.Tensor) -> torch.Tensor:
    """
    TraVeL loss: for every pair (i, j) in the batch, the siamese difference vector t = S(a_i) − S(a_j) must survive
    the generator, t' = S(G(a_i)) − S(G(a_j)): mean squared distance minus mean cosine similarity.
    """
    rows, cols = torch.triu_indices(len(source_vectors), len(source_vectors), offset=1)
    source_differences = source_vectors[rows] - source_vectors[cols]
    converted_differences = converted_vectors[rows] - converted_vectors[cols]
    distance = (source_differences - converted_differences).pow(2).mean()
    cosine = F.cosine_similarity(source_differences, converted_differences, dim=1).mean()
    return distance - cosine


def siamese_margin_loss(source_vectors: torch.Tensor, margin: float) -> torch.Tensor:
    """Keeps the siamese embedding from collapsing: distinct slices stay at least `margin` apart."""
    rows, cols = torch.triu_indices(len(source_vectors), len(source_vectors), offset=1)
    distances = (source_vectors[rows] - source_vectors[cols]).norm(dim=1)
    return F.relu(margin - distances).pow(2).mean()


def identity_loss(target: torch.Tensor, converted_target: torch.Tensor) -> torch.Tensor:
    """Target-domain input should pass through the generator unchanged: mean |b − G(b)|."""
    return F.l1_loss(converted_target, target)


def phase_loss(fake: torch.Tensor, real: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """
    Phase, as APNet's anti-wrapping losses see it (Ai & Ling 2023), on complex STFTs `(batch, frames, bins)`: the
    instantaneous phase, its difference along frequency (group delay) and along time (instantaneous frequency).
    Each is compared as a unit phasor (`|e^{iφ̂} − e^{iφ}|`: no wrapping, bounded gradients) and weighted by the
    real amplitude, so silent bins, whose phase is noise, count for nothing.
    """
    weight = real.abs().detach()
    weight = weight / weight.mean(dim=(1, 2), keepdim=True).clamp(min=eps)
    fake_phasor = fake / (fake.abs() + eps)
    real_phasor = real.detach() / (real.detach().abs() + eps)
    total = (weight * (fake_phasor - real_phasor).abs()).mean()
    for dim in (1, 2):  # time (instantaneous frequency), frequency (group delay)
        fake_step = _phase_step(fake_phasor, dim)
        real_step = _phase_step(real_phasor, dim)
        step_weight = torch.minimum(
            weight.narrow(dim, 1, weight.shape[dim] - 1), weight.narrow(dim, 0, weight.shape[dim] - 1)
        )
        total = total + (step_weight * (fake_step - real_step).abs()).mean()
    return total


def _phase_step(phasor: torch.Tensor, dim: int) -> torch.Tensor:
    """e^{i(φ[k+1] − φ[k])} along `dim`."""
    length = phasor.shape[dim]
    return phasor.narrow(dim, 1, length - 1) * phasor.narrow(dim, 0, length - 1).conj()
