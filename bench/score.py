"""Score 1,000,000 synthetic responses across every instrument; print responses per second.

    .venv/bin/python bench/score.py [--n 1000000] [--seed 20240401]

Responses are generated (seeded) in chunks outside the timed region; only `score()` is
timed. Answers are uniform over each item's scale, so every band and flag path is exercised.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from openkap.core.instruments import all_instruments, score

CHUNK = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240401)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    instruments = all_instruments()
    scales = [
        (i.id, [range(item.scale.minimum, item.scale.maximum + 1) for item in i.items])
        for i in instruments
    ]
    per_instrument: Counter[str] = Counter()
    flagged = 0
    elapsed = 0.0
    done = 0
    while done < args.n:
        size = min(CHUNK, args.n - done)
        batch = []
        for _ in range(size):
            instrument_id, ranges = scales[rng.randrange(len(scales))]
            batch.append((instrument_id, [rng.choice(r) for r in ranges]))
        start = time.perf_counter()
        for instrument_id, answers in batch:
            if score(instrument_id, answers).flags:
                flagged += 1
        elapsed += time.perf_counter() - start
        per_instrument.update(instrument_id for instrument_id, _answers in batch)
        done += size

    print(f"instruments: {len(instruments)}; responses: {done:,}; seed: {args.seed}")
    print(f"with a safety flag: {flagged:,}")
    print(f"scoring time: {elapsed:.2f} s")
    print(f"responses per second: {done / elapsed:,.0f}")


if __name__ == "__main__":
    main()
