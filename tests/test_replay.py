"""Reservoir sampling against hand-computed steps, and its uniformity."""

import torch

from strategies.replay import ReservoirBuffer, reservoir_slots


def test_reservoir_fills_then_replaces(monkeypatch):
    draws = iter([1, 4, 0])  # j for items t=3, 4, 5 with capacity 3

    def fake_randint(high, size, generator=None):
        j = next(draws)
        assert 0 <= j < high
        return torch.tensor([j])

    monkeypatch.setattr(torch, "randint", fake_randint)
    # items 0..2 fill slots 0..2; item 3 draws j=1 < 3 -> slot 1; item 4 draws 4 >= 3 -> dropped;
    # item 5 draws 0 -> slot 0
    assert reservoir_slots(0, 6, 3, torch.Generator()) == [(0, 0), (1, 1), (2, 2), (1, 3), (0, 5)]


def test_reservoir_continues_the_count():
    g = torch.Generator().manual_seed(0)
    # with 10 seen and capacity 3, nothing fills by position: every item draws
    out = reservoir_slots(10, 100, 3, g)
    assert all(0 <= slot < 3 for slot, _ in out)
    assert len(out) < 100


def test_reservoir_is_uniform_over_the_stream():
    # Each of 50 items, added in 5 chunks of 10, should be kept with probability 10/50.
    counts = torch.zeros(50)
    trials = 2000
    for t in range(trials):
        g = torch.Generator().manual_seed(t)
        buf = ReservoirBuffer(10)
        for chunk in range(5):
            ids = torch.arange(chunk * 10, chunk * 10 + 10)
            buf.add(ids.float().unsqueeze(1), ids, g)
        assert len(buf) == 10
        counts[buf.y] += 1
    freq = counts / trials
    assert torch.allclose(freq, torch.full((50,), 0.2), atol=0.04), freq
    # early and late chunks equally represented (no recency bias)
    assert abs(freq[:10].mean() - freq[40:].mean()) < 0.03


def test_zero_capacity_buffer_stays_empty():
    buf = ReservoirBuffer(0)
    buf.add(torch.zeros(5, 1), torch.zeros(5, dtype=torch.long), torch.Generator())
    assert len(buf) == 0 and buf.n_seen == 5
