"""Every trial's seed (model, data and curriculum), drawn rather than shared: with one seed for
all trials a lucky seed is confounded with a good configuration.

``draw_seed(*key)`` is a pure function of its integer key (numpy's ``SeedSequence``): a
search's trial ``n`` gets ``draw_seed(search_seed, TRIAL_STREAM, n)``; the confirmation
(``search.launch.confirm``) draws its fresh seeds from another stream, ``CONFIRM_STREAM``.

Example:
    >>> draw_seed(0, TRIAL_STREAM, 3) == draw_seed(0, TRIAL_STREAM, 3) != draw_seed(0, 0, 4)
    True
"""

from __future__ import annotations

import numpy as np

TRIAL_STREAM, CONFIRM_STREAM = 0, 1

__all__ = ["CONFIRM_STREAM", "TRIAL_STREAM", "draw_seed"]


def draw_seed(*key: int) -> int:
    """A seed in ``[0, 2**31)`` determined by the non-negative integers ``key``."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0] >> 1)
