"""A map-style PyTorch dataset over prepared columns (imported only by ``Dataset.to_torch``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.utils.data

__all__ = ["TorchDataset"]


class TorchDataset(torch.utils.data.Dataset):
    """Rows as dicts: numeric columns are tensors (one per column, shared), others stay Python objects.

    ``DataLoader(ds, batch_size=32)`` collates numeric columns into batched tensors.
    """

    def __init__(self, columns: dict[str, np.ndarray], torch_module: Any):
        self._torch = torch_module
        self.tensors: dict[str, Any] = {}
        self.objects: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            if values.dtype != object and values.dtype.kind in "biuf":
                self.tensors[name] = torch_module.from_numpy(np.array(values, copy=True))  # Arrow memory is read-only
            else:
                self.objects[name] = values
        self._len = len(next(iter(columns.values()))) if columns else 0
        self.pair: tuple[str, str] | None = None  # set by SupervisedDataset.to_torch: rows are (input, target)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> Any:
        row = {name: tensor[index] for name, tensor in self.tensors.items()}
        row.update({name: values[index] for name, values in self.objects.items()})
        if self.pair is not None:
            return row[self.pair[0]], row[self.pair[1]]
        return row
