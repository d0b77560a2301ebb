"""The forward pass on Keras' PyTorch backend.

``model(x, training=False)`` called eagerly on PyTorch records an autograd
graph through every layer and copies each NumPy input (Keras converts it with
``np.array``). Under :func:`torch.no_grad` no graph is recorded, and the batch
is handed over once, without a copy (``torch.from_numpy``); the outputs come
back as NumPy arrays sharing the tensors' memory. Not
:func:`torch.inference_mode`: a subclassed model creates its weights on its
first call, and weights created in inference mode can never be trained again.

Keras' Python code around every layer costs more than the maths of a small
model (one row through a 20-64-64-3 MLP: 0.7 ms eager, of which the matrix
products are a few microseconds). So the call is recorded once with
:func:`torch.jit.trace` into a TorchScript graph and replayed without Python.
Like the JAX forward pass, the graph is stateless: it runs in a
``keras.StatelessScope`` on variable values given as arguments, read afresh
on every call, so weights changed later (``partial_fit``) are seen, and
variables a call updates (the dropout seed state of Monte Carlo dropout)
are written back. A trace records the shapes it saw, so batches are padded
to the same row buckets as on JAX and each bucket is traced once. A model
whose call cannot be traced (Python control flow on tensor values, ops
TorchScript does not know) runs eagerly under ``no_grad``.

``torch.compile`` is not used: capturing costs seconds per fitted model and
input shape, paid by its first predictions, and Dynamo keeps at most 8
compilations per code object (``recompile_limit``), so from the ninth fitted
model in a process on it would run eagerly again.

Only imported on that backend (see ``_backend_module`` in ``__init__.py``):
importing it imports ``torch``.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import torch

from skkeras_proba._forward._buckets import bucket_rows, pad_rows

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_BATCH_SIZE = 4096
"""Rows per forward call on PyTorch (the other backends take 8192).

PyTorch allocates every activation from the system allocator. Streaming
20,000 rows through a 20-64-64-3 MLP in batches of 8192 rows (2 MiB per
hidden activation) took 7.5 ms and left the process 10-12 MiB larger at its
peak, about 1.5x input + output + one batch; batches of 4096 took 5.4 ms
and 1-2 MiB.
"""


def compile_forward(model: keras.Model) -> Callable[[Any], Any]:
    """``model(batch, training=False)`` traced per row bucket, from and to NumPy.

    Parameters
    ----------
    model : keras.Model
        A model on the PyTorch backend; if it is not built yet, its first
        call runs eagerly and builds it.

    Returns
    -------
    forward : callable
        Maps a batch (an ndarray, or a list/dict of ndarrays) to the model's
        outputs in the model's own structure (a tensor, list or dict), each
        output a NumPy array. Safe to call from several threads at once.
    """
    return _TracedForward(model)


_OUTPUT = object()
"""Stands for each output in the output structure a trace remembers: keeping
the traced tensors themselves would hold a batch of outputs alive."""


class _TracedForward:
    """One model's forward pass, one TorchScript trace per row bucket."""

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self._traces: dict[int, Callable[..., Any] | None] = {}
        self._assigned: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self._variables: list | None = None
        self._output_structure: Any = None

    def __call__(self, batch: Any) -> Any:
        with torch.no_grad():
            if not self._model.built:
                return self._eager(batch)  # builds it
            if self._variables is None:
                self._variables = list(self._model.variables)
            # A single array in and out, the common case, skips the tree walks:
            # at one row they cost as much as the traced call itself.
            flat = (
                [batch] if isinstance(batch, np.ndarray) else keras.tree.flatten(batch)
            )
            n_rows = len(flat[0])
            rows = bucket_rows(n_rows)
            inputs = [_to_tensor(pad_rows(a, rows)) for a in flat]
            values = [v.value for v in self._variables]
            trace = self._trace_for(rows, batch, inputs, values)
            if trace is None:
                return self._eager(batch)
            results = _as_list(trace(*inputs, *values))
            assigned = self._assigned[rows]
            outputs = results[: len(results) - len(assigned)]
            for index, value in zip(assigned, results[len(outputs) :], strict=True):
                self._variables[index].assign(value)
            if self._output_structure is _OUTPUT:
                return _to_numpy(outputs[0][:n_rows])
            outputs = keras.tree.pack_sequence_as(self._output_structure, outputs)
            return keras.tree.map_structure(lambda o: _to_numpy(o[:n_rows]), outputs)

    def _eager(self, batch: Any) -> Any:
        outputs = self._model(
            keras.tree.map_structure(_to_tensor, batch), training=False
        )
        return keras.tree.map_structure(_to_numpy, outputs)

    def _trace_for(
        self, rows: int, batch: Any, inputs: list, values: list
    ) -> Callable[..., Any] | None:
        with self._lock:
            if rows not in self._traces:
                self._traces[rows] = self._trace(batch, inputs, values, rows)
            return self._traces[rows]

    def _trace(
        self, batch: Any, inputs: list, values: list, rows: int
    ) -> Callable[..., Any] | None:
        variables = self._variables

        def stateless_call(*arguments: torch.Tensor) -> tuple:
            flat_inputs = arguments[: len(inputs)]
            current = arguments[len(inputs) :]
            structured = keras.tree.pack_sequence_as(batch, list(flat_inputs))
            mapping = list(zip(variables, current, strict=True))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                outputs = self._model(structured, training=False)
            self._output_structure = keras.tree.map_structure(
                lambda _: _OUTPUT, outputs
            )
            assigned = [
                i
                for i, (variable, old) in enumerate(mapping)
                if scope.get_current_value(variable) is not old
            ]
            self._assigned[rows] = assigned
            updates = [scope.get_current_value(variables[i]) for i in assigned]
            return (*keras.tree.flatten(outputs), *updates)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                return torch.jit.trace(
                    stateless_call, (*inputs, *values), check_trace=False, strict=False
                )
        except Exception:  # anything TorchScript cannot record: run eagerly
            return None


def _as_list(result: Any) -> list:
    return list(result) if isinstance(result, tuple | list) else [result]


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
