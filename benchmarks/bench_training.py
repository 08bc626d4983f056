"""Training throughput of the vocoder trainer's own step (`GANStep`), per config, device and precision.

    python benchmarks/bench_training.py [--steps 10] [--rounds 3] [--configs default tiny] [--recipe cpu16k_istft]

Prints steps/s and audio-seconds/s per row (median step time, best of `--rounds` alternating measurements) and each
row's speed relative to the first. The recipe (`--recipe`) is measured twice, side by side: unoptimised, as it was
first shipped (fp32, Adam's default foreach kernel, auraloss's STFT loss at its default resolutions, the phase loss
by complex division, and for an iSTFT generator 8 Griffin-Lim projections and batches of 4 segments), and as the
trainer runs it now (fused Adam, the lean STFT loss at the config's `stft_resolutions` sharing the mel loss's spectra,
the phase loss on contiguous views, the config's training `phase_iterations` and `batch_size`, bf16 autocast where
the CPU computes bf16 natively). The last line prints their ratio.
A recipe that pre-trains its generator (`adversarial_start_step`) is timed in that phase, which is all of a run
shorter than that step. GPU rows (fp32 and bf16) appear when CUDA is available.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf.audio import synthetic_melody  # noqa: E402
from melgan_hf.inference import native_bf16  # noqa: E402
from training import losses, train_vocoder  # noqa: E402
from training.common import dataclass_from_dict, load_yaml, make_adam  # noqa: E402
from training.losses import phasor_loss  # noqa: E402
from training.train_vocoder import GANStep, VocoderTrainingConfig, build_models  # noqa: E402

# What an iSTFT recipe trained with before this benchmark: Griffin-Lim projections and segments per batch
FIRST_SHIPPED_PHASE_ITERATIONS = 8
FIRST_SHIPPED_BATCH_SIZE = 4


def first_shipped_phase_loss(fake: torch.Tensor, real: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """`training.losses.phase_loss` as first shipped: the same value, by complex division on the transposed views."""
    real = real.detach()
    return phasor_loss(fake / (fake.abs() + eps), real / (real.abs() + eps), real.abs(), eps)


@dataclass
class Row:
    config: str
    device: str = "cpu"
    precision: str = "no"  # accelerate's mixed_precision
    optimised: bool = True  # False: the recipe as first shipped (see the module docstring)

    @property
    def label(self) -> str:
        return self.config if self.optimised else f"{self.config} (unoptimised)"


def measure(row: Row, steps: int, warmup: int) -> dict:
    AcceleratorState._reset_state(True)
    accelerator = Accelerator(cpu=row.device == "cpu", mixed_precision=row.precision)
    config_file = load_yaml(REPO / "training" / "configs" / f"{row.config}.yaml")
    train_config = dataclass_from_dict(VocoderTrainingConfig, config_file["training"], row.config)
    if not row.optimised:
        train_config.stft_resolutions = None
        if config_file["model"].get("generator_head") == "istft":
            train_config.phase_iterations = FIRST_SHIPPED_PHASE_ITERATIONS
            train_config.batch_size = FIRST_SHIPPED_BATCH_SIZE
    generator, discriminator, features = build_models(config_file["model"], None, accelerator)
    adam = make_adam if row.optimised else torch.optim.Adam
    rate, betas = train_config.learning_rate, train_config.adam_betas
    optimizer_g, optimizer_d = (adam(net.parameters(), rate, betas) for net in (generator, discriminator))
    generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
        generator, discriminator, optimizer_g, optimizer_d
    )
    step = GANStep(accelerator, generator, discriminator, optimizer_g, optimizer_d, features, train_config)
    if not row.optimised and step.stft_loss is not None:
        from auraloss.freq import MultiResolutionSTFTLoss

        first_shipped_loss = MultiResolutionSTFTLoss()  # computes every spectrum itself
        step.stft_loss = lambda fake, real, shared=None: first_shipped_loss(fake, real)
    adversarial = train_config.adversarial_start_step == 0
    segment_seconds = train_config.segment_length / features.sampling_rate
    melody = torch.from_numpy(synthetic_melody(features.sampling_rate, segment_seconds))
    batch = melody.repeat(train_config.batch_size, 1).to(accelerator.device)

    def synchronize() -> None:
        if accelerator.device.type == "cuda":
            torch.cuda.synchronize()

    train_vocoder.phase_loss = losses.phase_loss if row.optimised else first_shipped_phase_loss
    try:
        for _ in range(warmup):
            step(batch, adversarial)
        times = []
        for _ in range(steps):
            synchronize()
            start = time.perf_counter()
            step(batch, adversarial)
            synchronize()
            times.append(time.perf_counter() - start)
    finally:
        train_vocoder.phase_loss = losses.phase_loss
    seconds = statistics.median(times)
    return {
        "row": row,
        "step": "D + G" if adversarial else "G only",
        "batch": f"{train_config.batch_size}×{train_config.segment_length}",
        "steps_per_s": 1 / seconds,
        "audio_s_per_s": train_config.batch_size * segment_seconds / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (CPU rows of default.yaml use 2)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per row, alternating rows; best kept")
    parser.add_argument("--configs", nargs="*", default=["default", "tiny"])
    parser.add_argument("--recipe", default="cpu16k_istft", help="config measured unoptimised and optimised")
    args = parser.parse_args()

    cpu_precision = "bf16" if native_bf16(torch.device("cpu")) else "no"
    recipe_rows = [Row(args.recipe, optimised=False), Row(args.recipe, precision=cpu_precision)] if args.recipe else []
    rows = [Row(name) for name in args.configs] + recipe_rows
    if torch.cuda.is_available():
        rows += [Row(name, "cuda", precision) for name in args.configs for precision in ("no", "bf16")]
    # Rounds over all rows, each row's best round kept: slow drifts of a shared machine hit every row alike.
    results: list[dict] = [{} for _ in rows]
    for _ in range(args.rounds):
        for index, row in enumerate(rows):
            steps = min(args.steps, 2) if (row.config, row.device) == ("default", "cpu") else args.steps
            result = measure(row, steps, args.warmup)
            if result["steps_per_s"] > results[index].get("steps_per_s", 0.0):
                results[index] = result
            print(f"measured {row.label} on {row.device} ({row.precision}): {result['steps_per_s']:.3f} steps/s")

    baseline = results[0]["steps_per_s"]
    cpu = f"{torch.get_num_threads()} CPU threads"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"\nVocoder training step (G only: generator pre-training; D + G: D update + G update), {cpu}, {gpu}")
    header = (
        f"| {'config':28} | {'device':6} | {'precision':9} | {'step':6} | {'batch':9} | {'steps/s':>8}"
        f" | {'audio s/s':>9} | {'vs row 1':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for result in results:
        row = result["row"]
        precision = "fp32" if row.precision == "no" else row.precision
        print(
            f"| {row.label:28} | {row.device:6} | {precision:9} | {result['step']:6} | {result['batch']:9} |"
            f" {result['steps_per_s']:8.3f} | {result['audio_s_per_s']:9.2f} |"
            f" {result['steps_per_s'] / baseline:7.2f}× |"
        )
    if args.recipe:
        slow, fast = (next(result for result in results if result["row"] is row) for row in recipe_rows)
        print(
            f"\n{args.recipe} training throughput on the CPU: {fast['audio_s_per_s']:.1f} audio s/s against"
            f" {slow['audio_s_per_s']:.1f} unoptimised: {fast['audio_s_per_s'] / slow['audio_s_per_s']:.2f}×"
        )


if __name__ == "__main__":
    main()
