"""The style trainer: it moves timbre toward the target while keeping the notes, resumes exactly, and packages a
self-contained converter."""

import json
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from melgan_hf import MelGANGenerator, MelGANVCModel, MelGANVocoder, StyleTransferPipeline
from melgan_hf.audio import synthetic_melody
from melgan_hf.evaluation import mel_spectral_centroid
from tests.conftest import assert_same_weights, kill_after_first_checkpoint, steps_after_resume
from training.make_synthetic_corpus import write_corpus
from training.train_style import main as train_style

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training" / "train_style.py"
BRIGHT, DARK = 0.5, 2.5  # harmonic roll-off of the two synthetic timbres
HELD_OUT_NOTES = (246.94, 329.63, 293.66, 392.0, 440.0, 261.63, 349.23, 220.0)


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    """Two timbres playing random melodies from the same scale (different notes per file)."""
    root = tmp_path_factory.mktemp("domains")
    write_corpus(root / "bright", files=6, seconds=4.0, rolloff=BRIGHT, seed=1)
    write_corpus(root / "dark", files=6, seconds=4.0, rolloff=DARK, seed=2)
    return root / "bright", root / "dark"


@pytest.fixture(scope="module")
def vocoder_dir(tmp_path_factory) -> Path:
    """An untrained tiny vocoder: the timbre tests measure mels, so its quality does not matter."""
    from melgan_hf import MelGANConfig

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vocoder")
    MelGANVocoder(MelGANGenerator(MelGANConfig(ngf=8, n_residual_layers=1))).save_pretrained(folder)
    return folder


def make_config(tmp_path: Path, vocoder: dict | None = None, **training) -> Path:
    config = yaml.safe_load((REPO / "training" / "configs" / "style_tiny.yaml").read_text())
    config["training"].update(training)
    if vocoder is not None:
        config["vocoder"] = vocoder
    path = tmp_path / "style.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timbre_and_notes(pipeline: StyleTransferPipeline) -> dict[str, float]:
    """Convert a held-out bright melody; compare brightness with the same melody in both timbres, and onsets."""
    features = pipeline.feature_extractor
    mels = {}
    for name, rolloff in (("source", BRIGHT), ("target", DARK)):
        audio = synthetic_melody(features.sampling_rate, 6.0, notes=HELD_OUT_NOTES, rolloff=rolloff)
        mels[name] = features.mel_spectrogram(torch.from_numpy(audio))[0].numpy()
    converted = pipeline.convert_mel(mels["source"])
    centroid = {name: mel_spectral_centroid(mel) for name, mel in (*mels.items(), ("converted", converted))}

    def onsets(mel: np.ndarray) -> np.ndarray:
        return librosa.onset.onset_strength(S=10 * mel.T, sr=features.sampling_rate)

    return {
        "to_target": abs(centroid["converted"] - centroid["target"]),
        "to_source": abs(centroid["converted"] - centroid["source"]),
        "onset_correlation": float(np.corrcoef(onsets(mels["source"]), onsets(converted))[0, 1]),
    }


def converts_well(measures: dict[str, float]) -> bool:
    return measures["to_target"] < measures["to_source"] and measures["onset_correlation"] > 0.6


def test_training_moves_timbre_to_the_target_and_keeps_the_notes(tmp_path, domains, vocoder_dir) -> None:
    source, target = domains
    out = tmp_path / "converter"
    train_style(
        [
            "--config",
            str(make_config(tmp_path)),
            "--source",
            str(source),
            "--target",
            str(target),
            "--output_dir",
            str(out),
            "--vocoder",
            str(vocoder_dir),
            "--max_steps",
            "300",
            "--no_progress",
        ]
    )
    trained = StyleTransferPipeline.from_pretrained(out)
    measures = timbre_and_notes(trained)
    assert converts_well(measures), measures

    # The same check on the untrained model (same normalisation) must fail: it measures training, not luck.
    torch.manual_seed(0)
    untrained = StyleTransferPipeline(MelGANVCModel(trained.model.config), trained.vocoder)
    assert not converts_well(timbre_and_notes(untrained))

    state = json.loads((out / "trainer_state.json").read_text())
    # The trainer's own validation (another held-out melody) also sees the timbre move toward the target.
    assert state["steps"] == 300 and state["validation_final"]["validation/timbre_shift"] > 0.25
    card = (out / "README.md").read_text()
    assert f"{state['validation_final']['validation/timbre_shift']:.2f}" in card and "{" not in card.split("---")[2]
    assert {p.name for p in out.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocoder",
        "README.md",
    }
    audio, rate = trained(synthetic_melody(16000, 1.5, rolloff=BRIGHT), 16000)
    assert rate == 22050 and abs(audio.size - int(1.5 * 22050)) <= 256 and np.isfinite(audio).all()


def test_without_a_vocoder_one_is_trained_on_the_target(tmp_path, domains, capsys) -> None:
    source, target = domains
    out = tmp_path / "converter"
    config = make_config(tmp_path, vocoder={"config": str(REPO / "training/configs/tiny.yaml"), "max_steps": 2})
    args = [
        "--config",
        str(config),
        "--source",
        str(source),
        "--target",
        str(target),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--no_progress",
    ]
    train_style(args)
    assert f"vocoder: training on {target}" in capsys.readouterr().out
    vocoder_state = json.loads((out / "vocoder_training" / "trainer_state.json").read_text())
    assert vocoder_state["steps"] == 2 and vocoder_state["data"]["folder"] == str(target)
    pipeline = StyleTransferPipeline.from_pretrained(out)
    expected = load_file(out / "vocoder_training" / "model.safetensors")
    assert all(torch.equal(pipeline.vocoder.generator.state_dict()[k], v) for k, v in expected.items())
    assert MelGANVocoder.from_pretrained(out / "vocoder", load_discriminator=True).discriminator is not None

    # Resuming a finished run trains nothing more, in either stage.
    train_style([*args, "--resume"])
    assert json.loads((out / "vocoder_training" / "trainer_state.json").read_text())["steps"] == 2
    assert json.loads((out / "trainer_state.json").read_text())["resumed_from_step"] == 2


def test_killed_run_resumes_to_the_same_weights(tmp_path, domains, vocoder_dir) -> None:
    source, target = domains
    config = make_config(tmp_path, save_every=4, log_every=1, eval_every=1000)
    common = [
        "--config",
        str(config),
        "--source",
        str(source),
        "--target",
        str(target),
        "--vocoder",
        str(vocoder_dir),
        "--max_steps",
        "12",
        "--no_progress",
    ]
    train_style([*common, "--output_dir", str(tmp_path / "straight")])

    interrupted = tmp_path / "interrupted"
    kill_after_first_checkpoint(
        [sys.executable, str(SCRIPT), *common, "--output_dir", str(interrupted)], interrupted, REPO
    )
    train_style([*common, "--output_dir", str(interrupted), "--resume"])
    resumed_from = json.loads((interrupted / "trainer_state.json").read_text())["resumed_from_step"]
    assert resumed_from in (4, 8)
    assert steps_after_resume(interrupted / "train_log.jsonl", resumed_from) == list(range(resumed_from + 1, 13))
    assert_same_weights(tmp_path / "straight" / "model.safetensors", interrupted / "model.safetensors")


def test_bad_inputs_are_named(tmp_path, domains, vocoder_dir) -> None:
    source, target = domains
    base = ["--source", str(source), "--target", str(target), "--vocoder", str(vocoder_dir), "--no_progress"]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lambda_identiy'\]"):
        train_style(
            ["--config", str(make_config(tmp_path, lambda_identiy=1.0)), *base, "--output_dir", str(tmp_path / "a")]
        )
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        train_style(["--config", str(make_config(tmp_path, batch_size=1)), *base, "--output_dir", str(tmp_path / "b")])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match=r"No usable audio in .*empty[\s\S]*broken.wav: unreadable"):
        train_style(
            [
                "--config",
                str(make_config(tmp_path)),
                "--source",
                str(empty),
                "--target",
                str(target),
                "--vocoder",
                str(vocoder_dir),
                "--output_dir",
                str(tmp_path / "c"),
                "--no_progress",
            ]
        )
    bad_model = make_config(tmp_path)
    config = yaml.safe_load(bad_model.read_text())
    config["model"]["segment_frames"] = 30
    bad_model.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"segment_frames \(30\) must be a multiple of 2\*\*num_levels"):
        train_style(["--config", str(bad_model), *base, "--output_dir", str(tmp_path / "d")])


def test_push_to_hub_uploads_the_whole_converter(tmp_path, domains, vocoder_dir, fake_hub, monkeypatch) -> None:
    from tests.conftest import HUB_TOKEN

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    source, target = domains
    out = tmp_path / "o"
    train_style(
        [
            "--config",
            str(make_config(tmp_path)),
            "--source",
            str(source),
            "--target",
            str(target),
            "--vocoder",
            str(vocoder_dir),
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--push_to_hub",
            "someorg/my-converter",
            "--no_progress",
        ]
    )
    with fake_hub.lock:
        stored = dict(fake_hub.repos["someorg/my-converter"].files)
    assert stored["README.md"] == (out / "README.md").read_bytes()
    assert stored["model.safetensors"] == (out / "model.safetensors").read_bytes()
    assert {"vocoder/model.safetensors", "vocoder/config.json", "preprocessor_config.json"} <= set(stored)
