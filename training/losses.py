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
    # The loss treats both axes alike, so it runs on the transposed views: STFTs are stored (batch, bins, frames),
    # and the CPU's complex kernels are ~25 % faster on contiguous memory, as with a real reciprocal over division.
    fake, real = fake.transpose(1, 2), real.detach().transpose(1, 2)
    amplitude = real.abs()
    return phasor_loss(fake * (1 / (fake.abs() + eps)), real * (1 / (amplitude + eps)), amplitude, eps)


def phasor_loss(
    fake_phasor: torch.Tensor, real_phasor: torch.Tensor, amplitude: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """`phase_loss`'s three terms on unit phasors, weighted by the real amplitude (its mean scaled to 1)."""
    weight = amplitude / amplitude.mean(dim=(1, 2), keepdim=True).clamp(min=eps)
    total = (weight * (fake_phasor - real_phasor).abs()).mean()
    for dim in (1, 2):  # time (instantaneous frequency) and frequency (group delay), whichever order the axes have
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


class MultiResolutionSTFTLoss(torch.nn.Module):
    """
    auraloss's multi-resolution STFT loss (spectral convergence + log-magnitude L1 per resolution, averaged; its
    distance modules, its defaults), at about half its cost in a training step: auraloss also computes each
    spectrum's phase (`angle`) and throws it away, and builds the recording's magnitudes like the generator's. A
    resolution that equals the mel front end's can take the magnitudes the mel loss already computed (`shared`), in
    the front end's framing (frames half a hop later than `torch.stft`'s centred ones), saving two more STFTs.
    """

    AURALOSS_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))

    def __init__(
        self,
        resolutions: Sequence[Sequence[int]] | None = None,
        shared_resolution: Sequence[int] | None = None,
        eps: float = 1e-8,
    ) -> None:
        from auraloss.freq import SpectralConvergenceLoss, STFTMagnitudeLoss  # the [train] extra

        super().__init__()
        self.resolutions = [tuple(resolution) for resolution in resolutions or self.AURALOSS_RESOLUTIONS]
        self.shared_resolution = tuple(shared_resolution) if shared_resolution is not None else None
        self.eps = eps
        self.spectral_convergence = SpectralConvergenceLoss()
        self.log_magnitude = STFTMagnitudeLoss(log=True)
        for n_fft, hop, window in self.resolutions:
            self.register_buffer(f"window_{n_fft}_{hop}_{window}", torch.hann_window(window), persistent=False)

    def _magnitude(self, audio: torch.Tensor, n_fft: int, hop: int, window: int) -> torch.Tensor:
        """`(batch, bins, frames)`: √max(|STFT|², eps), auraloss's gradient-safe magnitude."""
        spectrum = torch.stft(
            audio, n_fft, hop, window, getattr(self, f"window_{n_fft}_{hop}_{window}"), return_complex=True
        )
        return torch.view_as_real(spectrum).square().sum(-1).clamp(min=self.eps).sqrt()

    def forward(
        self,
        predicted: torch.Tensor,
        target: torch.Tensor,
        shared: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """
        `(batch, channels, samples)` or `(batch, samples)` audio; the target carries no gradient. `shared`: the
        predicted and target magnitudes at `shared_resolution` (any layout), used instead of computing them.
        """
        predicted, target = predicted.reshape(-1, predicted.shape[-1]), target.reshape(-1, target.shape[-1])
        total = 0.0
        for resolution in self.resolutions:
            if shared is not None and resolution == self.shared_resolution:
                floor = self.eps**0.5  # the same floor as _magnitude's
                predicted_magnitude, target_magnitude = (magnitude.clamp(min=floor) for magnitude in shared)
                target_magnitude = target_magnitude.detach()
            else:
                predicted_magnitude = self._magnitude(predicted, *resolution)
                with torch.no_grad():
                    target_magnitude = self._magnitude(target, *resolution)
            total = total + self.spectral_convergence(predicted_magnitude, target_magnitude)
            total = total + self.log_magnitude(predicted_magnitude, target_magnitude)
        return total / len(self.resolutions)
