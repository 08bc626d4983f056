"""Write a folder of synthetic melodies (random notes, harmonic timbre): a corpus for smoke tests and benchmarks.

python training/make_synthetic_corpus.py OUT_DIR [--files 8] [--seconds 4] [--sampling_rate 22050]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melgan_hf.audio import save_audio, synthetic_melody

SCALE = 220.0 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15]) / 12)  # A minor, two octaves


def write_corpus(
    folder: str | Path, files: int, seconds: float, sampling_rate: int = 22050, rolloff: float = 1.0, seed: int = 0
) -> list[Path]:
    """`files` melodies of `seconds` each, 6 random notes from A minor; the same seed gives the same corpus."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(files):
        notes = tuple(float(f) for f in rng.choice(SCALE, size=6))
        audio = synthetic_melody(sampling_rate, seconds, notes=notes, rolloff=rolloff)
        paths.append(save_audio(Path(folder) / f"melody_{index:03d}.wav", audio, sampling_rate))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sampling_rate", type=int, default=22050)
    parser.add_argument("--rolloff", type=float, default=1.0, help="harmonic k has amplitude 1/k**rolloff")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_corpus(args.out_dir, args.files, args.seconds, args.sampling_rate, args.rolloff, args.seed)
    print(f"wrote {len(paths)} file(s), {len(paths) * args.seconds / 60:.2f} min, to {args.out_dir}")


if __name__ == "__main__":
    main()
