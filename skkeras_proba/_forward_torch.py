"""The forward pass on Keras' PyTorch backend.

``model(x, training=False)`` called eagerly on PyTorch records an autograd
graph through every layer and copies each NumPy input (Keras converts it with
``np.array``). Under :func:`torch.no_grad` no graph is recorded, and the batch
is handed over once, without a copy (``torch.from_numpy``); the outputs come
back as NumPy arrays sharing the tensors' memory. Not
:func:`torch.inference_mode`: a subclassed model creates its weights on its
first call, and weights created in inference mode can never be trained again.

``torch.compile`` is not used. It removes Keras' per-layer Python overhead (a
20-64-64-3 MLP on 2 shared CPU cores, torch 2.13: one row 1.3 ms eager, 0.5 ms
compiled with the ``"eager"`` backend and ``dynamic=True``), but capturing
costs 3-7 s per fitted model (one graph for one row, another for larger
batches; inductor's code generation costs more), paid by its first
predictions: it pays off only after thousands of calls. And Dynamo keeps at
most 8 compilations per code object (``recompile_limit``): from the ninth
fitted model in a process on, one function compiling each model's call runs
eagerly again (measured: guards on the model's name fail).

Only imported on that backend (see ``_inference.py``): importing it imports
``torch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import torch


def compile_forward(model: keras.Model) -> Callable[[Any], Any]:
    """``model(batch, training=False)`` without autograd, from and to NumPy.

    Parameters
    ----------
    model : keras.Model
        A built model on the PyTorch backend.

    Returns
    -------
    forward : callable
        Maps a batch (an ndarray, or a list/dict of ndarrays) to the model's
        outputs in the model's own structure (a tensor, list or dict), each
        output a NumPy array. Safe to call from several threads at once.
    """

    def forward(batch: Any) -> Any:
        with torch.no_grad():
            outputs = model(keras.tree.map_structure(_to_tensor, batch), training=False)
            return keras.tree.map_structure(_to_numpy, outputs)

    return forward


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    # from_numpy shares the array's memory; convert_to_tensor then only moves
    # it to the device Keras computes on (nothing to do on the CPU). Read-only
    # arrays (joblib's memmaps) and non-float ones go through Keras' own
    # conversion, which copies, as the eager call would.
    if array.dtype.kind != "f" or not array.flags.writeable:
        return keras.ops.convert_to_tensor(array)
    return keras.ops.convert_to_tensor(torch.from_numpy(array))


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16: Keras converts
        return keras.ops.convert_to_numpy(tensor)
    return tensor.cpu().numpy()
