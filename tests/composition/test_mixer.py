"""Audio mixing: everyone's samples summed and clipped, silence when nobody speaks, bounded buffers."""

from __future__ import annotations

import av
import numpy as np

from openstage.composition.mixer import MAX_BUFFERED, RATE, AudioBuffer, mix


def tone(value: float, samples: int = 960) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.full((2, samples), value, np.float32), format="fltp", layout="stereo")
    frame.sample_rate = RATE
    return frame


def test_voices_add_up_and_clip():
    quiet, loud = AudioBuffer(), AudioBuffer()
    quiet.add(tone(0.25))
    loud.add(tone(0.5))
    mixed = mix([quiet, loud], 960, pts=1234).to_ndarray()
    assert mixed.shape == (2, 960) and np.allclose(mixed, 0.75)
    for buffer in (quiet, loud):
        buffer.add(tone(0.75))
    clipped = mix([quiet, loud], 960, pts=0).to_ndarray()
    assert np.allclose(clipped, 1.0)


def test_short_audio_is_padded_with_silence_and_nobody_is_silence():
    buffer = AudioBuffer()
    buffer.add(tone(0.5, samples=480))
    frame = mix([buffer], 960, pts=960)
    mixed = frame.to_ndarray()
    assert np.allclose(mixed[:, :480], 0.5) and np.allclose(mixed[:, 480:], 0.0)
    assert (frame.pts, frame.sample_rate) == (960, RATE)
    assert np.allclose(mix([], 1600, pts=0).to_ndarray(), 0.0)


def test_a_participant_ahead_of_real_time_loses_its_oldest_audio():
    buffer = AudioBuffer()
    for _ in range(2 * MAX_BUFFERED // 960):
        buffer.add(tone(0.1))
    kept = int(np.count_nonzero(buffer.take(10 * MAX_BUFFERED)[0]))  # the rest of the take is silence
    assert MAX_BUFFERED - 960 <= kept <= MAX_BUFFERED
    assert buffer.take(1) is None
