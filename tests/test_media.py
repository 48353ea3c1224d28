import numpy as np
import pytest

from pipeline.media.decode import MediaError, decode_audio, decode_frames, probe, root_error


def test_probe_reads_streams_of_a_real_file(media_factory):
    info = probe(media_factory("a.mp4", seconds=2.0, rate=48000, channels=2, size="320x240", fps=30))
    assert info["audio_streams"] == 1 and info["video_streams"] == 1
    assert (info["sample_rate"], info["channels"]) == (48000, 2)
    assert (info["width"], info["height"], info["fps"]) == (320, 240, 30.0)
    assert info["duration"] == pytest.approx(2.0, abs=0.1)


def test_decode_audio_is_mono_16k_and_keeps_the_tone(media_factory):
    audio = decode_audio(media_factory("a.mp4", seconds=2.0, rate=44100, channels=2, freq=1000))
    assert audio.dtype == np.float32 and abs(audio.size - 32000) < 1600
    spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 1000) < 5


def test_decode_frames_square_96(media_factory):
    frames = decode_frames(media_factory("v.mp4", seconds=2.0, size="320x180"), fps=10, size=96)
    assert frames.shape[1:] == (96, 96, 3) and abs(len(frames) - 20) <= 1


@pytest.mark.parametrize("make, code", [(lambda f: f("silent.mp4", audio=False), "no_audio")])
def test_no_audio_stream_is_an_error_with_reason(media_factory, make, code):
    path = make(media_factory)
    assert probe(path)["audio_streams"] == 0
    with pytest.raises(MediaError) as err:
        decode_audio(path)
    assert err.value.code == code and str(path) in str(err.value)


def test_truncated_and_non_media_files_are_rejected(media_factory, tmp_path):
    good = media_factory("good.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    for path in (text, tmp_path / "missing.mp4"):
        with pytest.raises(MediaError) as err:
            probe(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MediaError):
        probe(cut)
        decode_audio(cut)


def test_the_reported_decode_error_does_not_depend_on_thread_interleaving():
    demuxer = "[in#0/mov,mp4,m4a,3gp,3g2,mj2] stream 0, offset 0x4dde: partial file"
    audio, video = "[aac] Input buffer exhausted before END element found", "[h264] error while decoding MB 3 4"
    for order in ([audio, demuxer, video], [video, audio, demuxer], [demuxer, video, audio]):
        assert root_error(order) == demuxer
    assert root_error([video, audio]) == root_error([audio, video]) == audio
