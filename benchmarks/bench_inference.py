"""
Vocoder inference speed on the CPU, side by side in one run: same weights, same input (a 10 s mel at 22 050 Hz,
the default config), each row against the baseline measured here.

    python benchmarks/bench_inference.py [--threads 2] [--seconds 10] [--repeats 5] [--model FOLDER] [--audio FILE]

Baseline: the generator as trained (weight norm active, eager PyTorch, fp32, `torch.no_grad()`, one call), which is
what the original MelGAN code runs. Rows: our `MelGANVocoder.decode` (the path the pipelines, CLI and app use) with
its default precision ("auto"), each explicit precision, `compile=True`, and onnxruntime on `melgan-hf export`'s
graph, each with its output difference from the baseline (relative L2, log-mel L1, PESQ-wb against the baseline's
output). Without --model the weights are a fresh default-config generator (speed only); give trained weights and a
speech recording (--audio) to judge the outputs.

Timing: one warm-up call per row (the compiled row's compile time is printed apart), then `--repeats` rounds that
call every row once each, best time per row: rows share whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf import MelGANConfig, MelGANGenerator, MelGANVocoder  # noqa: E402
from melgan_hf.audio import load_audio, resample, synthetic_melody  # noqa: E402
from melgan_hf.evaluation import log_mel_l1, relative_l2  # noqa: E402
from melgan_hf.pipelines import audio_to_mel  # noqa: E402


def best_times(functions: list[Callable[[], np.ndarray]], repeats: int) -> list[tuple[float, np.ndarray]]:
    """Fastest of `repeats` calls per function, the functions taking turns (so drifts in the machine's speed hit
    all of them alike), after one warm-up call each."""
    outputs = [function() for function in functions]
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            outputs[index] = function()
            best[index] = min(best[index], time.perf_counter() - start)
    return list(zip(best, outputs, strict=True))


def pesq_against(reference: np.ndarray, output: np.ndarray, rate: int) -> str:
    """Wide-band PESQ of `output` with the baseline's output as reference (4.64 = identical), or why not."""
    if not np.any(output != reference):
        return "identical"
    from melgan_hf.evaluation import pesq_wideband

    try:
        return f"{pesq_wideband(reference, output, rate):.3f}"
    except ImportError:
        return "n/a: needs [eval]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=None, help="trained vocoder (folder, Hub id or shipped name)")
    parser.add_argument("--audio", default=None, help="a recording to take the mel of (looped to --seconds)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.model:
        vocoder = MelGANVocoder.from_pretrained(args.model)
    else:
        torch.manual_seed(0)
        vocoder = MelGANVocoder(MelGANGenerator(MelGANConfig()))
    rate = vocoder.sampling_rate
    if args.audio:  # real speech: PESQ means something on it, unlike on a synthetic melody
        audio, audio_rate = load_audio(args.audio)
        audio = np.resize(resample(audio, audio_rate, rate), int(args.seconds * rate))
    else:
        audio = synthetic_melody(rate, args.seconds)
    mel = audio_to_mel(audio, rate, vocoder.feature_extractor)[0]
    audio_seconds = mel.shape[0] * vocoder.config.hop_length / rate
    trained = vocoder.generator.eval()

    def baseline() -> np.ndarray:
        with torch.no_grad():
            return trained(mel.unsqueeze(0), return_dict=False)[0][0].numpy()

    def variant(**settings: object) -> MelGANVocoder:
        return MelGANVocoder(vocoder.generator, vocoder.feature_extractor, **settings)

    variants = {
        f"decode, default (auto = {vocoder.resolved_precision})": vocoder,
        **{f"decode, precision={precision}": variant(precision=precision) for precision in ("fp32", "mixed", "bf16")},
    }
    rows: list[tuple[str, Callable[[], np.ndarray]]] = [("baseline: weight norm, eager, no_grad", baseline)]
    rows += [(name, lambda v=v: v.decode(mel)) for name, v in variants.items()]
    compiled = variant(compile=True)
    start = time.perf_counter()
    compiled.decode(mel)  # a failed compile warns and turns `compile` off: then there is no compiled row
    if compiled.compile:
        print(f"compile=True: first decode (compiling) took {time.perf_counter() - start:.1f} s")
        rows.append(("decode, default, compile=True", lambda: compiled.decode(mel)))
    try:
        import onnxruntime

        from melgan_hf.export import export_onnx

        path = export_onnx(vocoder, Path(tempfile.mkdtemp()) / "vocoder.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {"mel": mel.unsqueeze(0).numpy()}
        rows.append(("onnxruntime (melgan-hf export)", lambda: session.run(None, feed)[0][0]))
    except ImportError:
        print("onnx/onnxruntime not installed: no ONNX row (pip install 'melgan-hf[export]')")

    timed = best_times([function for _, function in rows], args.repeats)
    results = [(name, seconds, output) for (name, _), (seconds, output) in zip(rows, timed, strict=True)]

    reference = results[0][2]
    print(
        f"\n{audio_seconds:.1f} s of audio at {rate} Hz from a {mel.shape[0]}-frame mel, {args.threads} threads,"
        f" torch {torch.__version__}, weights: {args.model or 'fresh default config'},"
        f" input: {args.audio or 'synthetic melody'}"
    )
    header = (
        f"| {'path':40} | {'time (s)':>8} | {'× real time':>11} | {'speed-up':>8} | {'rel. L2 error':>13}"
        f" | {'log-mel L1 diff':>15} | {'PESQ-wb vs baseline':>19} |"
    )
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, seconds, output in results:
        output = output[: len(reference)]
        l2_error = relative_l2(reference, output)
        mel_difference = log_mel_l1(reference, output, vocoder.feature_extractor)
        print(
            f"| {name:40} | {seconds:8.3f} | {audio_seconds / seconds:10.1f}× | {results[0][1] / seconds:7.2f}×"
            f" | {l2_error:13.2e} | {mel_difference:15.5f} | {pesq_against(reference, output, rate):>19} |"
        )
    fastest = min(results[1:], key=lambda row: row[1])
    print(f"\nfastest path: {fastest[0]}, {results[0][1] / fastest[1]:.2f}×")
    print(f"CPU speed-up of MelGANVocoder.decode over the baseline: {results[0][1] / results[1][1]:.2f}×")


if __name__ == "__main__":
    main()
