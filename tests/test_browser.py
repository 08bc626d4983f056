"""
The app in a real browser (Debian's chromium driven by Playwright, never `playwright install`): upload → convert →
download, and the microphone through Chromium's fake capture device. Screenshots of both tabs (and of the
microphone run) are saved in outputs/screenshots/ for a look at what users see.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melgan_hf.audio import synthetic_melody

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RATE = 16000
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "melody.wav"
    sf.write(path, synthetic_melody(44100, 3.0), 44100, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(__file__).resolve().parents[1] / "outputs" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def open_app(browser_args: list[str], url: str, permissions: list[str] | None = None):
    """(playwright, browser, page) at the app, loaded."""
    runner = playwright.sync_playwright().start()
    browser = runner.chromium.launch(executable_path=CHROMIUM, args=FLAGS + browser_args)
    context = browser.new_context(permissions=permissions or [], accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Convert").wait_for()
    return runner, browser, page


def download_output(page, element_id: str, folder: Path) -> tuple[np.ndarray, int]:
    """Wait for the output audio's download link, download it, and read it."""
    link = page.locator(f"#{element_id} [data-testid='download-link']")
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    target = folder / download.value.suggested_filename
    download.value.save_as(target)
    audio, rate = sf.read(target)
    return audio, rate


def test_upload_convert_download(app_url: str, clip: Path, screenshots: Path, tmp_path: Path) -> None:
    runner, browser, page = open_app([], app_url)
    try:
        recording = page.locator("#recording")  # not the optional target-voice input beside it
        recording.get_by_label("Upload file").click()
        recording.locator("input[type=file]").set_input_files(str(clip))
        page.locator("#recording [data-testid='download-link']").wait_for()  # the upload finished
        page.get_by_role("button", name="Convert").click()
        audio, rate = download_output(page, "converted", tmp_path)
        assert rate == RATE and len(audio) == 3 * RATE
        assert np.abs(audio).max() > 0.003
        page.get_by_text("converted in").wait_for()
        page.screenshot(path=screenshots / "convert_tab.png", full_page=True)

        page.get_by_role("tab", name="Mel inversion").click()
        page.locator("#inversion-audio input[type=file]").set_input_files(str(clip))
        page.get_by_role("button", name="Invert").click()
        audio, rate = download_output(page, "melgan", tmp_path)
        assert rate == RATE and abs(len(audio) - 3 * RATE) < 256
        page.get_by_text("Griffin-Lim (32 iterations)").first.wait_for()
        page.screenshot(path=screenshots / "mel_inversion_tab.png", full_page=True)
    finally:
        browser.close()
        runner.stop()
    assert (screenshots / "convert_tab.png").stat().st_size > 10_000
    assert (screenshots / "mel_inversion_tab.png").stat().st_size > 10_000


def test_microphone_record_stop_convert(app_url: str, tmp_path: Path, screenshots: Path) -> None:
    """Chromium plays a wav file as its microphone; the recording is converted like an upload."""
    voice = tmp_path / "microphone.wav"
    sf.write(voice, synthetic_melody(48000, 3.0), 48000, subtype="PCM_16")
    fake_microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice}%noloop",
    ]
    runner, browser, page = open_app(fake_microphone, app_url, permissions=["microphone"])
    try:
        page.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(2000)
        page.locator(".stop-button").first.click()
        page.locator("#recording [data-testid='download-link']").wait_for()  # the recording reached the server
        page.get_by_role("button", name="Convert").click()
        audio, rate = download_output(page, "converted", tmp_path)
        page.screenshot(path=screenshots / "microphone.png", full_page=True)
    finally:
        browser.close()
        runner.stop()
    assert rate == RATE
    assert 1.0 < len(audio) / rate < 4.0, f"recorded {len(audio) / rate:.2f} s"
    assert np.abs(audio).max() > 0.003, "the recording reached the converter as silence"


def test_an_example_converts_when_clicked(app_url: str, tmp_path: Path, screenshots: Path) -> None:
    """A first visitor without a microphone clicks an example and hears it converted, with its spectrograms."""
    runner, browser, page = open_app([], app_url)
    try:
        page.get_by_text("Synthetic melody → strings").click()
        audio, rate = download_output(page, "converted", tmp_path)
        page.locator("#convert-spectrograms img").wait_for()
        page.get_by_text("converted in").wait_for()
        page.screenshot(path=screenshots / "example.png", full_page=True)
    finally:
        browser.close()
        runner.stop()
    assert rate == RATE and len(audio) == 4 * RATE  # the melody example is 4 s long
    assert np.abs(audio).max() > 0.003
