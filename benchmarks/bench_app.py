"""
Round-trip latency of the app's `/convert` through `gradio_client`: a 5 s clip, one client, then concurrent clients.

    python benchmarks/bench_app.py [--requests 20] [--clients 8] [--url http://127.0.0.1:7860/]

Without --url it starts `python app.py` itself (offline, shipped models) on a free port. The baseline row is the
same conversion called in-process (no server, no upload), measured in the same run, so the table shows what the
server adds. The plotting row times what the app adds for its spectrogram image (the mels of input and output, the
figure, the JPEG file). Targets: p50 ≤ 0.5 s for a 5 s clip on 2 CPU cores (issue 6); plotting adds ≤ 0.1 s p50
(issue 13).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import app  # noqa: E402
from melgan_hf import StyleTransferPipeline  # noqa: E402
from melgan_hf.audio import synthetic_melody  # noqa: E402
from melgan_hf.shipped import DEFAULT_CONVERTER  # noqa: E402

CLIP_SECONDS = 5.0


def start_app() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit("app.py did not start") from None
            time.sleep(0.5)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="requests per row")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the last row")
    parser.add_argument("--url", default=None, help="a running app (default: start one)")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    clip_file = Path(tempfile.mkdtemp()) / "clip.wav"  # what a browser microphone sends: int16 stereo 48 kHz
    melody = synthetic_melody(48000, CLIP_SECONDS)
    sf.write(clip_file, (np.stack([melody, melody], axis=1) * 32767).astype(np.int16), 48000, subtype="PCM_16")

    pipeline = StyleTransferPipeline.from_pretrained(DEFAULT_CONVERTER)
    features = pipeline.feature_extractor
    output, output_rate = pipeline(melody, 48000)  # warm-up
    in_process, plotting = [], []
    for _ in range(args.requests):
        start = time.perf_counter()
        pipeline(melody, 48000)
        in_process.append(time.perf_counter() - start)
        start = time.perf_counter()  # what convert() does for its plot, as it does it
        panels = [
            ("Input", app.mel_of(melody, 48000, features)),
            ("Converted", app.mel_of(output, output_rate, features)),
        ]
        Path(app.image_output("spectrograms.jpg", app.spectrograms(panels, features))).unlink()
        plotting.append(time.perf_counter() - start)

    server, url = (None, args.url) if args.url else start_app()
    try:
        client = Client(url, verbose=False)
        convert = lambda _: client.predict(handle_file(str(clip_file)), DEFAULT_CONVERTER, api_name="/convert")  # noqa: E731
        convert(None)  # warm-up: the server loads the model on first use

        def timed(index: int) -> float:
            start = time.perf_counter()
            convert(index)
            return time.perf_counter() - start

        sequential = [timed(index) for index in range(args.requests)]
        with ThreadPoolExecutor(args.clients) as pool:
            start = time.perf_counter()
            concurrent = list(pool.map(timed, range(args.requests)))
            wall = time.perf_counter() - start
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    baseline_p50 = statistics.median(in_process)
    print(f"\n/convert of a {CLIP_SECONDS:.0f} s clip ({DEFAULT_CONVERTER}), {args.requests} requests per row,")
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, torch {torch.__version__}")
    header = f"| {'path':36} | {'p50 (s)':>7} | {'p95 (s)':>7} | {'p50 vs in-process':>17} |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    rows = [
        ("in-process pipeline (baseline)", in_process),
        ("plotting alone (in-process)", plotting),
        ("gradio_client, 1 client", sequential),
        (f"gradio_client, {args.clients} concurrent clients", concurrent),
    ]
    for name, latencies in rows:
        p50, p95 = percentiles(latencies)
        print(f"| {name:36} | {p50:7.3f} | {p95:7.3f} | {p50 / baseline_p50:16.2f}× |")
    print(f"\n{args.clients} concurrent clients: {args.requests / wall:.2f} requests/s overall")
    print(
        f"plotting adds {statistics.median(plotting):.3f} s p50 to a {CLIP_SECONDS:.0f} s conversion (target ≤ 0.1 s)"
    )


if __name__ == "__main__":
    main()
