"""The shards stage's central frame is the frame on screen at the segment's centre (issue 11)."""

import numpy as np
import pandas as pd
import yaml

from conftest import REPO
from pipeline.core.tables import SEGMENT_COLUMNS, write_table
from pipeline.dataset.wds import decode_sample, iter_tar
from pipeline.media.decode import decode_frames
from pipeline.stages import shards

from encode import AAC, H264, ffmpeg, lavfi

FPS = 30
STEP = 3  # luma of frame N is 16 + 3 N: the picture says which frame it is


def test_central_frame_is_on_screen_at_the_centre(tmp_path, monkeypatch):
    clip = tmp_path / "numbered.mp4"
    ffmpeg(*lavfi(f"nullsrc=s=64x64:r={FPS}:d=2.5,geq=lum='16+{STEP}*N':cb=128:cr=128", "sine=frequency=440:duration=2.5"), *H264, "-qp", "0", *AAC, clip)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["shards"]["workers"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    segments = pd.DataFrame(
        [
            {
                "segment_id": f"numbered_{1000 * s:06d}",
                "clip_id": "numbered",
                "source_video": "numbered",
                "class_name": "Dog",
                "class_index": 1,
                "start": float(s),
                "split": "test",
                "path": str(clip),
            }
            for s in (0, 1)
        ]
    )
    write_table(segments, tmp_path / "data/segments/index.parquet", SEGMENT_COLUMNS)
    monkeypatch.chdir(tmp_path)
    shards.main()
    every_frame = decode_frames(clip, fps=FPS).astype(np.float64).mean(axis=(1, 2, 3))  # one per source frame
    assert len(every_frame) == 75 and np.all(np.diff(every_frame) > 1)
    frames = {}
    for key, fields in iter_tar(tmp_path / "data/shards/test-000000.tar"):
        brightness = decode_sample(fields)["image"].astype(np.float64).mean()
        frames[key] = int(np.argmin(np.abs(every_frame - brightness)))
        assert abs(every_frame[frames[key]] - brightness) < 0.5
    # centres 0.5 s and 1.5 s: frames 15 and 45 start exactly then (not 16 and 46, one frame later)
    assert frames == {"numbered_000000": 15, "numbered_001000": 45}
