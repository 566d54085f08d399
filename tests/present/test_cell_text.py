"""How one value is shown in the head of a split (terminal and notebook)."""

from __future__ import annotations

import numpy as np

from labdatasets import features as F
from labdatasets.present.display import cell_text


def test_float32_values_show_their_shortest_text_not_float64_noise():
    stored = float(np.float32(38.8))  # what to_pylist() hands back for a float32 column
    assert str(stored) == "38.79999923706055"
    assert cell_text(stored, F.Value("float32")) == "38.8"
    assert float(np.float32(cell_text(stored, F.Value("float32")))) == stored
    assert cell_text(float(np.float16(0.1)), F.Value("float16")) == "0.1"


def test_float64_values_keep_every_digit():
    assert cell_text(0.1 + 0.2, F.Value("float64")) == "0.30000000000000004"
    assert cell_text(0.1 + 0.2) == "0.30000000000000004"
