"""
Long audio in bounded memory: time and peak RSS of copy-synthesis (`MelGANVocoder`) and style transfer
(`StyleTransferPipeline`) on 1 and 10 minutes of audio, each in a fresh process so every peak is its own.

    python benchmarks/bench_long_audio.py [--threads 2] [--minutes 1 10] [--vocoder vocoder-16k]
        [--converter voice-to-english]

Prints, per pipeline and length: wall time, × real time, the process's RSS before the call (model and input
loaded) and its peak, then the time ratio of the longest to the shortest input: linear scaling gives the ratio of
the lengths (10.0 for 10 min / 1 min). Targets (issue 7): peak RSS < 1 GB and a ratio ≤ 10.5.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mib() -> float:
    """Current resident set size, from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(kind: str, model: str, minutes: float, threads: int) -> dict:
    """Runs in the child process: load, build the input, then time one call and read the peak RSS."""
    import numpy as np
    import torch

    from melgan_hf import MelGANVocoder, StyleTransferPipeline
    from melgan_hf.audio import synthetic_melody

    torch.set_num_threads(threads)
    pipeline_class = MelGANVocoder if kind == "vocoder" else StyleTransferPipeline
    pipeline = pipeline_class.from_pretrained(model)
    rate = pipeline.sampling_rate
    pipeline(synthetic_melody(rate, 2.0), rate)  # warm-up: first-call allocations are not the input's cost
    phrase = synthetic_melody(rate, 6.0)  # notes every second all the way through, not one note per 100 s
    audio = np.resize(phrase, int(minutes * 60 * rate))
    before = rss_mib()
    start = time.perf_counter()
    output, _ = pipeline(audio, rate)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    assert output.shape == audio.shape, (output.shape, audio.shape)
    return {"seconds": seconds, "rss_before_mib": before, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--vocoder", default="vocoder-16k", help="MelGAN vocoder: folder, Hub id or shipped name")
    parser.add_argument("--converter", default="voice-to-english", help="style-transfer model for the pipeline rows")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODEL", "MINUTES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model, minutes = args.child
        print(json.dumps(measure(kind, model, float(minutes), args.threads)))
        return

    rows = []
    for kind, model in (("vocoder", args.vocoder), ("converter", args.converter)):
        for minutes in sorted(args.minutes):
            command = [sys.executable, __file__, "--threads", str(args.threads), "--child", kind, model, str(minutes)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"{kind} on {minutes} min failed:\n{result.stderr[-2000:]}")
            row = {"kind": kind, "model": model, "minutes": minutes, **json.loads(result.stdout.splitlines()[-1])}
            rows.append(row)
            print(f"measured {kind} {model}, {minutes:g} min: {row['seconds']:.1f} s", flush=True)

    print(f"\n{args.threads} threads; RSS in MiB")
    print("| pipeline | model | audio | time (s) | × real time | RSS before call | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {'MelGANVocoder' if row['kind'] == 'vocoder' else 'StyleTransferPipeline'} | {row['model']}"
            f" | {row['minutes']:g} min | {row['seconds']:.1f} | {row['minutes'] * 60 / row['seconds']:.1f}×"
            f" | {row['rss_before_mib']:.0f} | {row['peak_rss_mib']:.0f} |"
        )
    for kind in ("vocoder", "converter"):
        own = [row for row in rows if row["kind"] == kind]
        times = {row["minutes"]: row["seconds"] for row in own}
        longest, shortest = max(times), min(times)
        print(
            f"{kind}: time({longest:g} min) / time({shortest:g} min) = {times[longest] / times[shortest]:.2f}"
            f" (linear: {longest / shortest:.2f}); peak RSS {max(row['peak_rss_mib'] for row in own):.0f} MiB"
        )


if __name__ == "__main__":
    main()
