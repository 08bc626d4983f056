"""
The app under concurrent use, on loopback only: identical requests at the same moment, a full queue, many clients
with bad files mixed in, and the clean-up of old files. Every test is bounded in requests and time (each request
has a timeout) and stops by itself.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from threading import Event

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status

from melgan_hf.audio import synthetic_melody
from tests.conftest import free_port

RATE = 16000  # the shipped models' rate
TIMEOUT_S = 120  # per request: a hung request fails its test instead of stalling it


def write_clip(path: Path, seconds: float, notes: tuple[float, ...] = (220.0, 330.0, 440.0)) -> Path:
    """A browser-microphone-like clip: int16 at 48 kHz."""
    sf.write(path, synthetic_melody(48000, seconds, notes=notes), 48000, subtype="PCM_16")
    return path


def complete_wav(data: bytes, source: str) -> np.ndarray:
    """The samples of a downloaded wav; fails on an empty or truncated file (its header and data must agree)."""
    assert len(data) > 44, f"{source}: empty download ({len(data)} bytes)"
    info = sf.info(BytesIO(data))
    assert len(data) >= 44 + 2 * info.frames, f"{source}: truncated download ({len(data)} bytes)"
    audio, _ = sf.read(BytesIO(data), dtype="int16")
    return audio


def slow_download(url: str) -> bytes:
    """A listener on a slow link: 4 kB at a time. Fails if the server sends less than it announced."""
    received = bytearray()
    with httpx.stream("GET", url, timeout=TIMEOUT_S) as response:
        response.raise_for_status()
        announced = int(response.headers["content-length"])
        for chunk in response.iter_bytes(4096):
            received += chunk
            time.sleep(0.005)
    assert len(received) == announced, f"{url}: {len(received)} of {announced} bytes"
    return bytes(received)


def test_identical_conversions_at_the_same_moment_get_complete_files_of_their_own(app_url: str, tmp_path) -> None:
    """
    Two users convert the same clip at the same moment, again and again, and download slowly. Their outputs are
    byte-identical, so a file named by its content would be shared, and rewritten by one request while the other
    is still downloading it.
    """
    clip = write_clip(tmp_path / "same.wav", 3.0)
    clients = [Client(app_url, verbose=False, download_files=False) for _ in range(2)]
    for round_index in range(8):
        barrier = threading.Barrier(2, timeout=TIMEOUT_S)

        def convert(index: int, barrier: threading.Barrier = barrier) -> tuple[str, bytes, str, bytes]:
            barrier.wait()
            time.sleep(0.05 * index)  # the second finishes a moment later, while the first is downloading
            job = clients[index].submit(handle_file(str(clip)), "voice-to-english", api_name="/convert")
            audio, plot, _ = job.result(timeout=TIMEOUT_S)
            return audio["path"], slow_download(audio["url"]), plot["path"], slow_download(plot["url"])

        with ThreadPoolExecutor(2) as pool:
            (audio_a, wav_a, plot_a, image_a), (audio_b, wav_b, plot_b, image_b) = pool.map(convert, range(2))
        where = f"round {round_index}"
        assert audio_a != audio_b and plot_a != plot_b, f"{where}: two requests were given the same file"
        assert len(complete_wav(wav_a, where)) == 3 * RATE
        assert wav_a == wav_b, f"{where}: the same conversion downloaded differently"
        assert image_a == image_b and image_a.startswith(b"\xff\xd8\xff"), f"{where}: the plots differ or are not JPEG"


@pytest.fixture
def in_process_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., tuple[str, Event]]]:
    """
    Starts the app in this process with one worker and one queue slot, its files under tmp_path, and a gate: every
    conversion, once started, waits at the gate until the test opens it. Returns the URL and the gate.
    """
    import app

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    gate = Event()
    read_clip = app.read_clip

    def gated_read_clip(path: str | None, what: str) -> tuple[np.ndarray, int]:
        assert gate.wait(TIMEOUT_S), "the test never opened the gate"
        return read_clip(path, what)

    monkeypatch.setattr(app, "read_clip", gated_read_clip)
    demos = []

    def start(keep_files_s: int = 3600) -> tuple[str, Event]:
        monkeypatch.setattr(app, "LIMITS", app.Limits(concurrency=1, queue_size=1, keep_files_s=keep_files_s))
        demos.append(app.build_app())
        demos[-1].launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
        return demos[-1].local_url, gate

    yield start
    gate.set()
    for demo in demos:
        demo.close()


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_past_the_queue_limit_a_request_gets_a_busy_error(in_process_app, tmp_path: Path) -> None:
    """One request running, one waiting in the single queue slot: the third is refused with "try again"."""
    url, gate = in_process_app()
    clip = handle_file(str(write_clip(tmp_path / "clip.wav", 1.0)))
    client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    running = client.submit(clip, "voice-to-english", api_name="/convert")
    wait_for(lambda: running.status().code == Status.PROCESSING, "the first request runs")
    waiting = client.submit(clip, "voice-to-english", api_name="/convert")
    wait_for(lambda: waiting.status().code == Status.IN_QUEUE, "the second request waits in the queue")
    refused = client.submit(clip, "voice-to-english", api_name="/convert")
    with pytest.raises(QueueError, match="(?i)try again"):
        refused.result(timeout=TIMEOUT_S)
    gate.set()
    for job in (running, waiting):
        converted, _, _ = job.result(timeout=TIMEOUT_S)
        assert len(sf.read(converted)[0]) == RATE


def test_outputs_and_uploads_are_deleted_after_their_lifetime(in_process_app, tmp_path: Path) -> None:
    """With a 1 s lifetime, a conversion's files are gone within seconds; the example clips stay."""
    url, gate = in_process_app(keep_files_s=1)
    gate.set()
    cache = tmp_path / "gradio"
    examples = sorted((cache / "melgan-hf-examples").glob("*.wav"))
    assert examples, "the app made no example clips"
    client = Client(url, verbose=False, download_files=False)
    audio, plot, _ = client.predict(
        handle_file(str(write_clip(tmp_path / "clip.wav", 1.0))), "voice-to-english", api_name="/convert"
    )
    outputs = [Path(audio["path"]), Path(plot["path"])]
    assert all(path.is_relative_to(cache) for path in outputs)
    uploads = [path for path in cache.rglob("clip.wav")]
    assert uploads, "the upload is not in the app's cache folder"
    wait_for(lambda: not any(path.exists() for path in outputs + uploads), "the old files are deleted", 15.0)
    assert all(path.exists() for path in examples)


def test_many_clients_with_identical_clips_and_bad_files(app_url: str, tmp_path: Path) -> None:
    """
    20 clients at once, 5 requests each: 4 good clips (three different ones, so many requests are identical) and
    one bad file. Every good request gets complete audio of its length or the busy error, at least 95 % get audio,
    nothing breaks in transport, every bad file gets its clear error, and the server serves afterwards.
    """
    clips = {seconds: write_clip(tmp_path / f"clip{seconds}.wav", seconds) for seconds in (1.0, 1.5, 2.0)}
    (tmp_path / "text.wav").write_text("not audio at all")
    sf.write(tmp_path / "silence.wav", np.zeros(RATE, np.float32), RATE)
    bad_files = {"text.wav": "not a readable audio file", "silence.wav": "silent"}
    clients, requests_per_client = 20, 5

    def run_client(index: int) -> list[tuple[str, str]]:
        client = Client(app_url, verbose=False, download_files=str(tmp_path / f"client{index}"))
        outcomes = []
        for request in range(requests_per_client):
            bad = request == index % requests_per_client
            name = list(bad_files)[index % 2] if bad else None
            seconds = list(clips)[(index + request) % len(clips)]
            path = tmp_path / name if bad else clips[seconds]
            try:
                converted, plot, _ = client.submit(
                    handle_file(str(path)), "voice-to-english", api_name="/convert"
                ).result(timeout=TIMEOUT_S)
            except QueueError:
                outcomes.append(("busy", ""))
                continue
            except AppError as error:
                expected = bad_files.get(name or "", "")
                outcomes.append(("clear error" if bad and expected in str(error) else "wrong error", str(error)))
                continue
            except Exception as error:  # a dropped connection, a broken download
                outcomes.append(("transport", repr(error)))
                continue
            if bad:
                outcomes.append(("bad file converted", name))
                continue
            audio = complete_wav(Path(converted).read_bytes(), converted)
            right = len(audio) == int(seconds * RATE) and Path(plot).stat().st_size > 1000
            outcomes.append(("audio" if right else "wrong audio", f"{len(audio)} samples for {seconds} s"))
        return outcomes

    with ThreadPoolExecutor(clients) as pool:
        outcomes = [outcome for client in pool.map(run_client, range(clients)) for outcome in client]
    kinds = Counter(kind for kind, _ in outcomes)
    unexpected = [outcome for outcome in outcomes if outcome[0] not in ("audio", "busy", "clear error")]
    assert not unexpected, f"{kinds}: {unexpected[:5]}"
    assert kinds["clear error"] == clients
    good = clients * (requests_per_client - 1)
    assert kinds["audio"] >= 0.95 * good, kinds
    survivor = Client(app_url, verbose=False, download_files=str(tmp_path / "after"))
    converted, _, _ = survivor.predict(handle_file(str(clips[1.0])), "voice-to-english", api_name="/convert")
    assert len(complete_wav(Path(converted).read_bytes(), converted)) == RATE
