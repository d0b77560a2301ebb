"""The PyTorch forward pass gives the eager model's numbers, without autograd."""

import keras
import numpy as np

from tests.backends import requires_backend

pytestmark = requires_backend(
    "torch", reason="the PyTorch forward pass runs on Keras' PyTorch backend only"
)

rng = np.random.default_rng(0)
X = rng.standard_normal((9, 4)).astype("float32")


def _mlp():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))


def _eager(model, batch):
    return keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(batch, training=False)
    )


def test_outputs_equal_the_eager_call_as_numpy_arrays():
    from skkeras_proba._forward._torch import compile_forward

    model = _mlp()
    outputs = compile_forward(model)(X)
    assert isinstance(outputs, np.ndarray)
    np.testing.assert_allclose(outputs, _eager(model, X), rtol=1e-6, atol=1e-7)


def test_read_only_input_is_accepted_and_left_unchanged():
    from skkeras_proba._forward._torch import compile_forward

    model = _mlp()
    frozen = X.copy()
    frozen.flags.writeable = False
    outputs = compile_forward(model)(frozen)
    np.testing.assert_allclose(outputs, _eager(model, X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(frozen, X)


def test_dict_inputs_and_outputs_keep_their_structure():
    from skkeras_proba._forward._torch import compile_forward

    left, right = keras.Input((4,), name="left"), keras.Input((2,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model(
        {"left": left, "right": right},
        {
            "p": keras.layers.Dense(3, activation="softmax", name="p")(joined),
            "z": keras.layers.Dense(1, name="z")(joined),
        },
    )
    batch = {"left": X, "right": X[:, :2].copy()}
    outputs = compile_forward(model)(batch)
    expected = _eager(model, batch)
    assert set(outputs) == {"p", "z"}
    for name in ("p", "z"):
        np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-6)


def test_weights_still_train_after_an_inference_mode_pass():
    import torch

    from skkeras_proba._forward._torch import compile_forward

    model = _mlp()
    with torch.enable_grad():
        compile_forward(model)(X)
        loss = model(X, training=True).sum()
    loss.backward()
    assert all(w.value.grad is not None for w in model.trainable_weights)


def test_every_batch_size_is_traced_per_bucket_and_equals_the_eager_call():
    from skkeras_proba._forward._buckets import bucket_rows
    from skkeras_proba._forward._torch import compile_forward

    model = _mlp()
    forward = compile_forward(model)
    many = rng.standard_normal((300, 4)).astype("float32")
    for rows in (1, 7, 9, 100, 300):
        expected = _eager(model, many[:rows])
        np.testing.assert_allclose(forward(many[:rows]), expected, rtol=1e-6, atol=1e-7)
    buckets = {bucket_rows(rows) for rows in (1, 7, 9, 100, 300)}
    assert set(forward._traces) == buckets
    assert all(trace is not None for trace in forward._traces.values())


def test_weights_set_after_tracing_are_used():
    from skkeras_proba._forward._torch import compile_forward

    model = _mlp()
    forward = compile_forward(model)
    forward(X)
    model.set_weights([w * 2 for w in model.get_weights()])
    np.testing.assert_allclose(forward(X), _eager(model, X), rtol=1e-6, atol=1e-7)


def test_a_trace_keeps_no_output_tensor_alive():
    import weakref

    from skkeras_proba._forward._torch import compile_forward

    traced_outputs = []
    model = _mlp()
    call = model.call

    def recording_call(*args, **kwargs):
        outputs = call(*args, **kwargs)
        traced_outputs.append(weakref.ref(outputs))
        return outputs

    model.call = recording_call
    forward = compile_forward(model)
    forward(X)
    assert traced_outputs, "the model was not called while tracing"
    assert all(ref() is None for ref in traced_outputs)
