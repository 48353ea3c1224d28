"""Repack data/shards with float16 mels (smaller, for the GPU sweep)."""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pipeline.dataset import wds
out = Path(__file__).parent / "shards"; out.mkdir(exist_ok=True)
for split in ("train", "val", "test"):
    def samples():
        for path in wds.shard_paths("data/shards", split):
            for key, f in wds.iter_tar(path):
                f = dict(f); f["mel.npy"] = wds.encode_npy(wds.decode_npy(f["mel.npy"]).astype(np.float16))
                yield key, f
    print(split, wds.write_tar(out / f"{split}-000000.tar", samples()))
