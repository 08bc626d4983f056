"""Shared fixtures. Tests run offline: the Hub is either a pre-filled cache or a local test server."""

import json
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import load_file

from melgan_hf import MelGANConfig, MelGANDiscriminator, MelGANGenerator, MelGANVocoder
from tests.hub_server import FakeHub

SAMPLING_RATE = 22050
HUB_TOKEN = "test-token"


@pytest.fixture(scope="session")
def tiny_config() -> MelGANConfig:
    """The "melgan" preset with a small network: fast on CPU, same interfaces as the paper's model."""
    return MelGANConfig(ngf=8, n_residual_layers=1, ndf=4, n_layers_D=2, num_D=2)


@pytest.fixture
def tiny_vocoder(tiny_config: MelGANConfig) -> MelGANVocoder:
    torch.manual_seed(0)
    # fp32: tests compare decodes exactly, whatever the CPU ("auto" picks "mixed" where bf16 is native)
    return MelGANVocoder(MelGANGenerator(tiny_config), discriminator=MelGANDiscriminator(tiny_config), precision="fp32")


@pytest.fixture
def saved_vocoder(tmp_path: Path, tiny_vocoder: MelGANVocoder) -> Path:
    folder = tmp_path / "tiny-vocoder"
    tiny_vocoder.save_pretrained(folder)
    return folder


@pytest.fixture
def random_mel() -> np.ndarray:
    """A plausible log10 mel (values around the floor of -5 up to about 0), 40 frames."""
    rng = np.random.default_rng(0)
    return (rng.uniform(-5.0, 0.0, size=(40, 80))).astype(np.float32)


def sine(frequency: float, seconds: float, sampling_rate: int = SAMPLING_RATE, amplitude: float = 0.5) -> np.ndarray:
    time = np.arange(int(seconds * sampling_rate)) / sampling_rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    """
    A running test Hub, with this process's huggingface_hub pointed at it, online, and without telemetry (which
    would call the Hub too). hf_xet reads HF_HOME / HF_XET_CACHE itself when its session starts, at the first
    upload: point them at a temporary folder so that its logs stay out of the developer's cache.
    """
    hf_home = tmp_path_factory.mktemp("push_hf_home")
    with FakeHub(token=HUB_TOKEN) as hub:
        for name, value in {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(hf_home),
            "HF_XET_CACHE": str(hf_home / "xet"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        # Downloads in this process too: the URL template and cache folder were fixed at import.
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        yield hub


def kill_after_first_checkpoint(command: list[str], output_dir: Path, cwd: Path) -> None:
    """Start a training run and SIGKILL it as soon as its first complete checkpoint appears."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.monotonic() + 300
    while not list((output_dir / "checkpoints").glob("step_*")) and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before writing a checkpoint"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output_dir / "model.safetensors").exists(), "killed too late: the run had finished"


def steps_after_resume(log_file: Path, resumed_from: int) -> list[int]:
    """The steps the resumed run logged: from the last time step `resumed_from + 1` was logged."""
    logged = [json.loads(line)["step"] for line in log_file.read_text().splitlines()]
    start = len(logged) - 1 - logged[::-1].index(resumed_from + 1)
    assert logged[:start] == list(range(1, len(logged[:start]) + 1)), logged  # the killed run, from step 1
    return logged[start:]


def assert_same_weights(expected_file: Path, actual_file: Path, atol: float = 1e-6) -> None:
    expected, actual = load_file(expected_file), load_file(actual_file)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, atol=atol, rtol=0, msg=name)


def assert_reaches_receptive_field(generator: torch.nn.Module, hop_length: int) -> torch.Tensor:
    """Nudge one frame of a 101-frame mel: the waveform must change no further than the generator's
    `receptive_field_frames` on either side, and reach at least a frame short of it (it is rounded up by less than a
    frame). Returns the waveforms of the un-nudged mel."""
    mel = torch.from_numpy(np.random.default_rng(0).uniform(-5, 0, (1, 101, 80)).astype(np.float32))
    nudged = mel.clone()
    nudged[0, 50] += 1.0
    with torch.no_grad():
        waveforms = generator(mel).waveforms
        change = (generator(nudged).waveforms - waveforms).abs()
    changed = np.flatnonzero(change[0].reshape(101, hop_length).amax(dim=1).numpy() > 0) - 50
    reach = generator.receptive_field_frames
    assert changed.min() >= -reach and changed.max() <= reach
    assert max(-changed.min(), changed.max()) >= reach - 1
    return waveforms


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py` as a user starts it (offline, shipped models), on a free port; its URL."""
    import urllib.request

    repo = Path(__file__).resolve().parents[1]
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    environment = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(log.parent / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "app.py"], cwd=repo, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"app.py did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        pytest.fail("app.py did not stop within 20 s of SIGTERM")
