"""Which note should a candidate play when matching a real sound? (docs/results.md, "Real sounds")

Renders the shipped vital_simple model's 16 samples and the 16 nearest training rows of a dataset
(pooled log-mel scan) for every sound of a dev set at four notes: the analysed note (pitch and
on/off times), the candidate's own note, the analysed pitch with the candidate's own times
(what a2d does now: a2d.kernels.analysis.at_pitch), and the candidate's pitch with the analysed
times. Writes per-sound MSS of every candidate to OUT (JSON) and prints best-of-16 means.

    python docs/experiments/note_times.py DEV_DIR DATASET OUT.json
"""

import json
import sys
from dataclasses import replace

import numpy as np

from a2d.kernels.analysis import analyse_input
from a2d.kernels.audio import find_sounds, load_sound
from a2d.kernels.loudness import integrated_loudness
from a2d.pipelines.predict import SoundMatcher
from a2d.pipelines.proposers import nearest_neighbours
from a2d.pipelines.refine import render_and_score
from a2d.storage.dataset import open_dataset


def main(dev: str, data: str, out: str) -> None:
    train = open_dataset(data, "train")
    res = {}
    with SoundMatcher("vital_simple", candidates=16, seed=0, neighbours=0) as m:
        spec, rate = m.checkpoint.spec, m.settings.sample_rate
        for path in find_sounds([dev]):
            target, note, _ = analyse_input(load_sound(path, m.settings), spec, m.settings)
            mel = m.features(target.audio)
            lufs = float(integrated_loudness(target.audio, rate))
            near = nearest_neighbours(mel[None].astype(np.float32), train, 16)[1][0]
            scores = {}
            for source, vectors in (("model", m.sample(mel)), ("nn", near)):
                patches = [spec.decode(v) for v in vectors]
                notes = {
                    "analysed": [note] * len(patches),
                    "own": [p.note for p in patches],
                    "apitch_owntimes": [replace(p.note, pitch=note.pitch) for p in patches],
                    "ownpitch_atimes": [replace(note, pitch=p.note.pitch) for p in patches],
                }
                for name, ns in notes.items():
                    ps = [replace(p, note=n) for p, n in zip(patches, ns, strict=True)]
                    mss, _ = render_and_score(m.backend, ps, target.audio, rate, lufs)
                    scores[f"{source}_{name}"] = [float(x) for x in mss]
            res[path.name] = scores
    with open(out, "w") as f:
        json.dump(res, f)
    for key in next(iter(res.values())):
        print(key, round(float(np.mean([min(r[key]) for r in res.values()])), 3))


if __name__ == "__main__":
    main(*sys.argv[1:4])
