"""The residual-stream reference: what it adds, where, its control, and its hook's lifetime."""

from __future__ import annotations

import torch

from valuelocate.hooks import count_hooks
from valuelocate.steering.residual import ResidualSteer

from tiny_models import build, left_padded_batch


def _layer_output(model, batch, layer: int, steer: ResidualSteer | None) -> torch.Tensor:
    """Decoder layer ``layer``'s output as the next layer receives it (a hook registered
    after the steering hook sees the steered value), and the logits."""
    seen = []
    layers = model.model.layers
    with torch.no_grad():
        if steer is None:
            handle = layers[layer].register_forward_hook(
                lambda m, a, o: seen.append(o[0] if isinstance(o, tuple) else o)
            )
            model(**batch)
        else:
            with steer.apply(model):
                handle = layers[layer].register_forward_hook(
                    lambda m, a, o: seen.append(o[0] if isinstance(o, tuple) else o)
                )
                model(**batch)
        handle.remove()
    return seen[0]


def test_adds_gamma_vector_to_the_layer_output_and_removes_its_hook():
    model = build("llama")
    batch = left_padded_batch([[5, 6, 7, 8], [9, 10, 11]])
    vector = torch.linspace(-1, 1, model.config.hidden_size)
    hooks = count_hooks(model)
    plain = _layer_output(model, batch, 0, None)
    steer = ResidualSteer(vector, 0, 0.5)
    with steer.apply(model):
        assert count_hooks(model) == hooks + 1
    assert count_hooks(model) == hooks
    steered = _layer_output(model, batch, 0, steer)
    assert torch.allclose(steered - plain, (0.5 * vector).expand_as(plain), atol=1e-6)
    with torch.no_grad():
        before = model(**batch).logits
        with steer.apply(model):
            after = model(**batch).logits
    assert not torch.allclose(before, after)


def test_gamma_zero_is_bit_identical_and_control_keeps_the_norm():
    model = build("llama")
    batch = left_padded_batch([[5, 6, 7, 8]])
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model(**batch).logits
        with ResidualSteer(vector, 1, 0.0).apply(model):
            zero = model(**batch).logits
    assert torch.equal(plain, zero)
    steer = ResidualSteer(vector, 1, 3.0)
    control = steer.control(seed=1)
    assert control.gamma == steer.gamma and control.layer == steer.layer
    assert torch.allclose(control.vector.norm(), vector.norm())
    assert torch.equal(control.vector.sort().values, vector.sort().values)
    assert not torch.equal(control.vector, vector)


def test_hook_is_removed_when_the_block_raises():
    model = build("llama")
    hooks = count_hooks(model)
    try:
        with ResidualSteer(torch.zeros(model.config.hidden_size), 0, 1.0).apply(model):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert count_hooks(model) == hooks
