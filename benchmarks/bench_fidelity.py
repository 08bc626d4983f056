"""
What each `precision` of `MelGANVocoder.decode` does to a trained vocoder's output, over many recordings: the
output of every precision against the baseline's (the generator as trained: weight norm, eager, fp32), per file,
then the worst and the mean over the files. Issue 7's bounds: relative L2 ≤ 1e-2, log-mel L1 ≤ 0.02, PESQ-wb ≥ 4.3.

    python benchmarks/bench_fidelity.py HELDOUT_DIR [--model vocoder-16k] [--per-folder 2] [--threads 2]

HELDOUT_DIR holds one folder of recordings per voice or instrument (`training/data/split_heldout.py` makes it);
the first `--per-folder` files of each (sorted) are used. Needs the [eval] extra for PESQ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf import MelGANVocoder  # noqa: E402
from melgan_hf.audio import load_audio  # noqa: E402
from melgan_hf.evaluation import log_mel_l1, pesq_wideband, relative_l2  # noqa: E402
from melgan_hf.pipelines import audio_to_mel  # noqa: E402

PRECISIONS = ("fp32", "mixed", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("heldout_dir", type=Path)
    parser.add_argument("--model", default="vocoder-16k", help="trained vocoder (folder, Hub id or shipped name)")
    parser.add_argument("--per-folder", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    files = [
        path
        for folder in sorted(p for p in args.heldout_dir.iterdir() if p.is_dir())
        for path in sorted(p for p in folder.iterdir() if p.is_file())[: args.per_folder]
    ]
    if not files:
        raise SystemExit(f"No recordings in the folders of {args.heldout_dir}.")
    vocoder = MelGANVocoder.from_pretrained(args.model)
    features, rate = vocoder.feature_extractor, vocoder.sampling_rate
    trained = vocoder.generator.eval()
    variants = {precision: MelGANVocoder(trained, features, precision=precision) for precision in PRECISIONS}

    errors: dict[str, list[tuple[float, float, float]]] = {precision: [] for precision in PRECISIONS}
    print(f"| file | {' | '.join(f'{p}: rel. L2, log-mel L1, PESQ-wb' for p in PRECISIONS)} |")
    print(f"|---|{'---|' * len(PRECISIONS)}")
    for path in files:
        mel = audio_to_mel(*load_audio(path), features)[0]
        with torch.no_grad():
            reference = trained(mel.unsqueeze(0), return_dict=False)[0][0].numpy()
        cells = []
        for precision, variant in variants.items():
            output = variant.decode(mel)
            error = (
                relative_l2(reference, output),
                log_mel_l1(reference, output, features),
                pesq_wideband(reference, output, rate),
            )
            errors[precision].append(error)
            cells.append(f"{error[0]:.2e}, {error[1]:.4f}, {error[2]:.3f}")
        print(f"| {path.parent.name}/{path.name} | {' | '.join(cells)} |")

    print(f"\n{len(files)} files from {args.heldout_dir}, weights: {args.model}")
    print("| precision | rel. L2, worst (mean) | log-mel L1, worst (mean) | PESQ-wb, worst (mean) |")
    print("|---|---|---|---|")
    for precision, rows in errors.items():
        l2, mel_l1, pesq = np.array(rows).T
        print(
            f"| {precision} | {l2.max():.2e} ({l2.mean():.2e}) | {mel_l1.max():.4f} ({mel_l1.mean():.4f})"
            f" | {np.nanmin(pesq):.3f} ({np.nanmean(pesq):.3f}) |"
        )


if __name__ == "__main__":
    main()
