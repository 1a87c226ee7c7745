"""Seeds of a run's named random streams: one per (run seed, experience, purpose).

A strategy that draws random numbers of its own (replay batches, buffer order, augmentation
views) asks the base for `rng(name)`: a torch.Generator seeded from the run's seed, the
experience and the name, reseeded at every experience. Every DDP process draws the same
numbers, and a run resumed at an experience boundary draws what an uninterrupted run would.
The first four names keep the numbers the strategies used before names existed, so earlier
records reproduce; any other name is hashed (CRC-32, offset past those numbers).
"""

from __future__ import annotations

import zlib

# purpose -> the historic stream number (records made before named streams used these)
HISTORIC = {"replay-batches": 1, "buffer-order": 2, "onpro": 5, "vdp": 7}


def mix(*parts: int) -> int:
    """A deterministic 63-bit seed from integers (FNV-1a over 64-bit words)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


def stream_number(name: str) -> int:
    """The number of a named stream: historic, or the name's CRC-32 past 2**32."""
    return HISTORIC.get(name, (1 << 32) + zlib.crc32(name.encode()))


def stream_seed(seed: int, experience: int, name: str) -> int:
    """The seed of stream `name` in `experience` (-1: before the stream) of a run."""
    return mix(seed, experience, stream_number(name))
