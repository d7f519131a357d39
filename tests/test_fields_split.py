"""Fields split into features and synthesis; the final training phase relies on the split."""

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
    """Hard phase: one lookup of every pixel, then batches gathered from it, must give exactly
    what a lookup of the batch gives (bit for bit, so the encoded files stay the same)."""
    torch.manual_seed(1)
    height, width = 40, 61
    model = build_field(default_config("hashgrid", height, width, {}), height, width, 3)
    latents = [torch.round(3 * torch.randn_like(p)) for p in model.latent_parameters()]
    everywhere = model.features(latents, torch.arange(height * width))
    for size in (1, 97, height * width // 4):
        batch = stratified_batch(height * width, size)
        assert torch.equal(everywhere.index_select(0, batch), model.features(latents, batch))
