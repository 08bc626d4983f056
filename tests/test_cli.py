"""The melgan-hf command line: invert folders and files, skip and name bad files, --strict, --help."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melgan_hf import load_audio
from melgan_hf.cli import main
from tests.conftest import sine


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "inputs"
    (folder / "nested").mkdir(parents=True)
    sf.write(folder / "a.wav", sine(440.0, 0.5), 22050)
    sf.write(folder / "nested" / "b.flac", np.stack([sine(220.0, 0.4, 44100)] * 2, axis=1), 44100)
    sf.write(folder / "c.ogg", sine(330.0, 0.3, 16000), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (folder / "readme.txt").write_text("ignored: not audio by extension")
    return folder


def test_invert_folder_writes_good_files_and_names_the_corrupt_one(mixed_folder, saved_vocoder, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["invert", str(mixed_folder), "--model", str(saved_vocoder), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert written == ["inputs/a.wav", "inputs/c.wav", "inputs/nested/b.wav"]
    assert "broken.wav" in captured.err and "not a readable audio file" in captured.err
    assert "wrote 3 file(s)" in captured.out and "1 failed" in captured.out
    audio, rate = load_audio(out / "inputs" / "nested" / "b.wav")
    assert rate == 22050 and audio.size == int(0.4 * 22050)


def test_strict_makes_a_failure_exit_non_zero(mixed_folder, saved_vocoder, tmp_path) -> None:
    args = ["invert", str(mixed_folder), "--model", str(saved_vocoder), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--strict"]) == 1


def test_npy_mels_are_decoded_and_bad_ones_skipped(tmp_path, saved_vocoder, random_mel, capsys) -> None:
    np.save(tmp_path / "good.npy", random_mel)
    np.save(tmp_path / "batched.npy", random_mel[None])
    np.save(tmp_path / "transposed.npy", random_mel.T)
    np.save(tmp_path / "nan.npy", np.full((10, 80), np.nan, dtype=np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    inputs = [str(tmp_path / f"{name}.npy") for name in ("good", "batched", "transposed", "nan", "objects")]
    status = main(["invert", *inputs, "--model", str(saved_vocoder), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["batched.wav", "good.wav"]
    assert "transposed.npy" in err and "transpose it" in err
    assert "nan.npy" in err and "NaN" in err
    assert "objects.npy" in err


def test_griffin_lim_baseline_and_missing_inputs(tmp_path, capsys) -> None:
    sf.write(tmp_path / "tone.wav", sine(440.0, 0.3), 22050)
    out = tmp_path / "gl"
    assert main(["invert", str(tmp_path / "tone.wav"), "--model", "griffin-lim", "--out", str(out), "--quiet"]) == 0
    assert (out / "tone.wav").is_file()
    assert main(["invert", str(tmp_path / "missing.wav"), "--model", "griffin-lim", "--out", str(out)]) == 0
    assert "missing.wav: file not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["invert", str(empty), "--model", "griffin-lim", "--out", str(out)]) == 2


def test_unloadable_model_is_reported(tmp_path, capsys) -> None:
    sf.write(tmp_path / "tone.wav", sine(440.0, 0.3), 22050)
    status = main(["invert", str(tmp_path / "tone.wav"), "--model", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert status == 2 and "cannot load model" in capsys.readouterr().err


def test_demo_writes_input_and_output(tmp_path, saved_vocoder, capsys) -> None:
    assert main(["demo", "--model", str(saved_vocoder), "--out", str(tmp_path)]) == 0
    source, _ = load_audio(tmp_path / "demo_input.wav")
    output, _ = load_audio(tmp_path / "demo_output.wav")
    assert source.size == output.size == 3 * 22050
    assert "log-mel L1 distance" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["invert"], ["demo"]])
def test_help_documents_every_option(command: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    expected = {"": ["invert", "demo"], "invert": ["--model", "--out", "--strict", ".npy"], "demo": ["--out"]}
    output = capsys.readouterr().out
    for word in expected["".join(command)]:
        assert word in output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "melgan-hf"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "invert" in result.stdout
