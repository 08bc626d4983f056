"""The melgan-hf command line: invert and convert folders and files, skip and name bad files, --strict, --help."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melgan_hf import MelGANVocoder, StyleTransferPipeline, load_audio
from melgan_hf.audio import save_audio, synthetic_melody
from melgan_hf.cli import build_parser, main
from tests.conftest import sine
from tests.test_style_pipeline import make_style_pipeline


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


def test_precision_option_reaches_the_vocoder(tmp_path, saved_vocoder, random_mel) -> None:
    np.save(tmp_path / "mel.npy", random_mel)
    written = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        args = ["invert", str(tmp_path / "mel.npy"), "--model", str(saved_vocoder), "--out", str(out), "--quiet"]
        assert main([*args, "--precision", precision]) == 0
        written[precision] = load_audio(out / "mel.wav")[0]
    expected = MelGANVocoder.from_pretrained(saved_vocoder, precision="fp32").decode(random_mel)
    np.testing.assert_allclose(written["fp32"], expected, atol=1e-4)  # 16-bit files: within a step
    assert np.abs(written["bf16"] - written["fp32"]).max() > 1e-4  # a different computation reached the file


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
    expected = {
        "": ["invert", "demo"],
        "invert": ["--model", "--out", "--strict", ".npy", "--precision", "--compile"],
        "demo": ["--out"],
    }
    output = capsys.readouterr().out
    for word in expected["".join(command)]:
        assert word in output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "melgan-hf"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "invert" in result.stdout


# ---------------------------------------------------------------------------------------------------- convert


@pytest.fixture
def saved_style_model(tmp_path, tiny_vocoder):
    folder = tmp_path / "tiny-style"
    make_style_pipeline(tiny_vocoder).save_pretrained(folder)
    return folder


def test_convert_folder_writes_good_files_and_names_the_corrupt_one(
    mixed_folder, saved_style_model, tmp_path, capsys
) -> None:
    out = tmp_path / "out"
    status = main(["convert", str(mixed_folder), "--model", str(saved_style_model), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert written == ["inputs/a.wav", "inputs/c.wav", "inputs/nested/b.wav"]
    assert "broken.wav" in captured.err and "not a readable audio file" in captured.err
    assert "readme.txt" not in captured.err
    assert "wrote 3 file(s)" in captured.out and "1 failed" in captured.out
    for name, seconds in [("a.wav", 0.5), ("nested/b.wav", 0.4), ("c.wav", 0.3)]:
        audio, rate = load_audio(out / "inputs" / name)
        assert rate == 22050 and abs(audio.size - seconds * 22050) <= 1, name
    # It is the style pipeline's output (16-bit PCM), not a copy or a plain vocoder pass.
    expected, _ = StyleTransferPipeline.from_pretrained(saved_style_model)(*load_audio(mixed_folder / "a.wav"))
    np.testing.assert_allclose(load_audio(out / "inputs" / "a.wav")[0], expected, rtol=0, atol=1e-4)


def test_convert_strict_and_max_duration(mixed_folder, saved_style_model, tmp_path, capsys) -> None:
    args = ["convert", str(mixed_folder), "--model", str(saved_style_model), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "strict"), "--strict"]) == 1
    capsys.readouterr()
    short = tmp_path / "short"
    assert main([*args, "--out", str(short), "--max-duration", "0.35"]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in short.rglob("*.wav")) == ["c.wav"]
    assert "a.wav: 0.5 s long, over the limit" in captured.err and "b.flac: 0.4 s long" in captured.err
    assert "wrote 1 file(s)" in captured.out and "3 failed" in captured.out


def test_convert_reports_a_model_that_cannot_be_loaded(tmp_path, saved_vocoder, capsys) -> None:
    sf.write(tmp_path / "tone.wav", sine(440.0, 0.3), 22050)
    tone, out = str(tmp_path / "tone.wav"), str(tmp_path / "out")
    assert main(["convert", tone, "--model", str(tmp_path / "nope"), "--out", out]) == 2
    assert "cannot load model" in capsys.readouterr().err
    # A vocoder is not a style-transfer model.
    assert main(["convert", tone, "--model", str(saved_vocoder), "--out", out, "--quiet"]) == 2
    assert f"cannot load model {str(saved_vocoder)!r}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["convert", str(empty), "--model", str(tmp_path / "nope"), "--out", out]) == 2
    assert "no audio files found" in capsys.readouterr().err


def test_an_unusable_device_is_reported(tmp_path, saved_style_model, saved_vocoder, capsys) -> None:
    sf.write(tmp_path / "tone.wav", sine(440.0, 0.3), 22050)
    tone, out = str(tmp_path / "tone.wav"), str(tmp_path / "out")
    for command, model in [("convert", saved_style_model), ("invert", saved_vocoder)]:
        assert main([command, tone, "--model", str(model), "--out", out, "--device", "no-such-device"]) == 2
        assert "--device 'no-such-device' is not usable here" in capsys.readouterr().err


def test_convert_of_a_folder_without_audio_says_so(tmp_path, capsys) -> None:
    assert main(["convert", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"no audio files found in {tmp_path}" in capsys.readouterr().err


def test_convert_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--help"])
    assert exit_info.value.code == 0
    output = capsys.readouterr().out
    for word in ["INPUT", "--model", "--out", "--strict", "--max-duration", "--device", "--quiet", "recursively"]:
        assert word in output
    main_help = build_parser().format_help()
    assert "convert" in main_help and "style" in main_help


def test_evaluation_leaves_out_silent_and_unreadable_recordings(tmp_path, capsys) -> None:
    from melgan_hf.cli import read_recordings

    save_audio(tmp_path / "speech.wav", synthetic_melody(16000, 1.0), 16000)
    save_audio(tmp_path / "silence.wav", np.full(16000, 1e-4, dtype=np.float32), 16000)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    recordings = read_recordings([str(tmp_path)], max_files=None, max_duration=None)
    assert list(recordings) == [str(tmp_path / "speech.wav")]
    errors = capsys.readouterr().err
    assert "silence.wav: the recording: silent" in errors and "broken.wav" in errors


def test_max_files_applies_to_each_folder(tmp_path) -> None:
    from melgan_hf.cli import read_recordings

    for folder in ("a", "b"):
        for index in range(3):
            save_audio(tmp_path / folder / f"{index}.wav", synthetic_melody(16000, 0.5), 16000)
    recordings = read_recordings([str(tmp_path / "a"), str(tmp_path / "b")], max_files=2, max_duration=None)
    assert sorted(Path(name).relative_to(tmp_path).as_posix() for name in recordings) == [
        "a/0.wav",
        "a/1.wav",
        "b/0.wav",
        "b/1.wav",
    ]


def test_inputs_that_map_to_one_output_name_all_get_written(tmp_path, saved_vocoder) -> None:
    """x.wav beside x.flac, and two named files called x.wav: four inputs, four outputs, nothing overwritten."""
    for name in ("a/x.wav", "a/x.flac", "b/x.wav", "c/x.wav"):
        save_audio(tmp_path / name, synthetic_melody(16000, 0.5), 16000)
    inputs = [str(tmp_path / "a"), str(tmp_path / "b" / "x.wav"), str(tmp_path / "c" / "x.wav")]
    assert main(["invert", *inputs, "--model", str(saved_vocoder), "--out", str(tmp_path / "out")]) == 0
    written = sorted(path.relative_to(tmp_path / "out").as_posix() for path in (tmp_path / "out").rglob("*.wav"))
    assert written == ["a/x-2.wav", "a/x.wav", "x-2.wav", "x.wav"]
