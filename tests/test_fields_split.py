"""Fields split into features and synthesis; the network step search relies on the split."""

from __future__ import annotations

import pytest
import torch

from nfcodec.codec import default_config
from nfcodec.fields.registry import build_field
from nfcodec.fit.trainer import stratified_batch


@pytest.mark.parametrize("field", ["hashgrid", "diner"])
def test_render_is_synthesis_of_features(field: str) -> None:
    torch.manual_seed(0)
    height, width = 9, 14
    model = build_field(default_config(field, height, width, {}), height, width, 3)
    latents = [torch.randn_like(p) for p in model.latent_parameters()]
    pixels = torch.tensor([0, 3, 50, 125])
    with torch.no_grad():
        full = model.features(latents)
        assert full.shape[0] == height * width
        torch.testing.assert_close(model.render(latents), model.synthesize(full), rtol=0, atol=0)
        part = model.features(latents, pixels)
        torch.testing.assert_close(model.render(latents, pixels), model.synthesize(part))


def test_hashgrid_pixel_features_do_not_depend_on_the_batch() -> None:
    """A pixel's features are the same bits in any batch: the decoder's chunk size cannot
    change its output, and features computed for all pixels serve any batch."""
    torch.manual_seed(1)
    height, width = 40, 61
    model = build_field(default_config("hashgrid", height, width, {}), height, width, 3)
    latents = [torch.round(3 * torch.randn_like(p)) for p in model.latent_parameters()]
    everywhere = model.features(latents, torch.arange(height * width))
    for size in (1, 97, height * width // 4):
        batch = stratified_batch(height * width, size)
        assert torch.equal(everywhere.index_select(0, batch), model.features(latents, batch))


@pytest.mark.parametrize("network", ["mlp", "siren"])
def test_network_run_in_two_parts_is_bit_identical(network: str) -> None:
    from nfcodec.fields.mlp import Mlp, Siren

    torch.manual_seed(2)
    net = Mlp(8, 16, 2, 3, "gelu") if network == "mlp" else Siren(8, 16, 2, 3, 30.0)
    x = torch.randn(1000, 8)
    with torch.no_grad():
        whole = net(x)
        for layer in range(len(net.linears) + 1):
            assert torch.equal(net(net(x, 0, layer), layer), whole)
    params = net.ordered_parameters()
    assert [net.layer_of_parameter(i) for i in range(len(params))] == [0, 0, 1, 1, 2, 2]
    for index, p in enumerate(params):
        linear = net.linears[net.layer_of_parameter(index)]
        assert p is (linear.weight if index % 2 == 0 else linear.bias)


def test_step_search_reports_which_tensor_changed_in_ascending_order() -> None:
    """The encoder keeps a layer's input across candidates: that needs this calling order."""
    from nfcodec.fit.weights import EXPONENT_RANGE, search_steps

    torch.manual_seed(3)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))]
    originals = [p.detach().clone() for p in params]
    calls: list[int] = []
    before: dict[int, list[torch.Tensor]] = {}  # tensors ahead of `changed` at its first call

    def evaluate_mse(changed: int) -> float:
        calls.append(changed)
        seen = before.setdefault(changed, [p.detach().clone() for p in params[:changed]])
        for p, kept in zip(params[:changed], seen, strict=True):
            assert torch.equal(p.detach(), kept)  # nothing before `changed` moves meanwhile
        pairs = zip(params, originals, strict=True)
        return sum(float(((p.detach() - o) ** 2).sum()) for p, o in pairs)

    search_steps(params, evaluate_mse, 1e-3, 100)
    assert calls == [i for i in range(len(params)) for _ in EXPONENT_RANGE]
    for changed, seen in before.items():  # ... and what they held were their final values
        for p, kept in zip(params[:changed], seen, strict=True):
            assert torch.equal(p.detach(), kept)
