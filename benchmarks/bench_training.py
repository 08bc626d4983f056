"""Training throughput of the vocoder trainer's own step (`GANStep`), per config, device and precision.

    python benchmarks/bench_training.py [--steps 5] [--configs default tiny]

Prints a table of steps/s and audio-seconds/s, and each row's speed relative to the first row measured in the same
run (default.yaml, fp32, on the CPU). GPU rows (fp32 and bf16) appear when CUDA is available.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf.audio import synthetic_melody  # noqa: E402
from training.common import dataclass_from_dict, load_yaml  # noqa: E402
from training.train_vocoder import GANStep, VocoderTrainingConfig, build_models  # noqa: E402


def measure(config_name: str, device: str, mixed_precision: str, steps: int, warmup: int) -> dict:
    AcceleratorState._reset_state(True)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=mixed_precision)
    config_file = load_yaml(REPO / "training" / "configs" / f"{config_name}.yaml")
    train_config = dataclass_from_dict(VocoderTrainingConfig, config_file["training"], config_name)
    generator, discriminator, features = build_models(config_file["model"], None, accelerator)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=train_config.learning_rate)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=train_config.learning_rate)
    generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
        generator, discriminator, optimizer_g, optimizer_d
    )
    step = GANStep(accelerator, generator, discriminator, optimizer_g, optimizer_d, features, train_config)
    segment_seconds = train_config.segment_length / features.sampling_rate
    melody = torch.from_numpy(synthetic_melody(features.sampling_rate, segment_seconds))
    batch = melody.repeat(train_config.batch_size, 1).to(accelerator.device)

    def synchronize() -> None:
        if accelerator.device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step(batch)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    synchronize()
    elapsed = time.perf_counter() - start
    return {
        "config": config_name,
        "device": device,
        "precision": "fp32" if mixed_precision == "no" else mixed_precision,
        "batch": f"{train_config.batch_size}×{train_config.segment_length}",
        "steps_per_s": steps / elapsed,
        "audio_s_per_s": steps * train_config.batch_size * segment_seconds / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per row (CPU rows of default.yaml use 2)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--configs", nargs="+", default=["default", "tiny"])
    args = parser.parse_args()

    runs = [(name, "cpu", "no") for name in args.configs]
    if torch.cuda.is_available():
        runs += [(name, "cuda", precision) for name in args.configs for precision in ("no", "bf16")]
    rows = []
    for name, device, precision in runs:
        steps = min(args.steps, 2) if (name, device) == ("default", "cpu") else args.steps
        rows.append(measure(name, device, precision, steps, args.warmup))
        print(f"measured {name} on {device} ({precision}): {rows[-1]['steps_per_s']:.3f} steps/s", flush=True)

    baseline = rows[0]["steps_per_s"]
    cpu = f"{torch.get_num_threads()} CPU threads"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"\nMelGAN training step (D update + G update), {cpu}, {gpu}, torch {torch.__version__}")
    header = (
        f"| {'config':8} | {'device':6} | {'precision':9} | {'batch':9} | {'steps/s':>8} | {'audio s/s':>9}"
        f" | {'vs row 1':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for row in rows:
        print(
            f"| {row['config']:8} | {row['device']:6} | {row['precision']:9} | {row['batch']:9} |"
            f" {row['steps_per_s']:8.3f} | {row['audio_s_per_s']:9.2f} | {row['steps_per_s'] / baseline:7.2f}× |"
        )


if __name__ == "__main__":
    main()
