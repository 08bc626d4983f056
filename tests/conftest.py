"""Shared fixtures. Tests run offline: the Hub is either a pre-filled cache or a local test server."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants

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
    return MelGANVocoder(MelGANGenerator(tiny_config), discriminator=MelGANDiscriminator(tiny_config))


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
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        yield hub
