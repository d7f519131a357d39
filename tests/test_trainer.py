"""The training batch sampler (sorted, in range, one index per stratum, unbiased), the latent
noise and the progress reports."""

from __future__ import annotations

import pytest
import torch

from nfcodec.fit.trainer import stratified_batch


@pytest.mark.parametrize(
    ("pixels", "size"), [(393216, 23592), (393216, 24576), (10, 3), (7, 7), (1, 1), (5, 9)]
)
def test_batch_is_sorted_and_in_range(pixels: int, size: int) -> None:
    torch.manual_seed(0)
    batch = stratified_batch(pixels, size)
    assert batch.dtype == torch.int64
    assert batch.numel() == min(size, pixels)
    assert int(batch.min()) >= 0 and int(batch.max()) < pixels
    assert bool((batch[1:] >= batch[:-1]).all())
    if pixels % size == 0:
        assert bool((batch[1:] > batch[:-1]).all())  # strata are whole pixels: all distinct


def test_one_index_per_stratum() -> None:
    torch.manual_seed(1)
    pixels, size = 1000, 30
    for _ in range(200):
        batch = stratified_batch(pixels, size)
        k = torch.arange(size)
        # stratum k covers [k, k + 1) * pixels / size: pixel p overlaps it when
        # p < (k + 1) * pixels / size and p + 1 > k * pixels / size
        assert bool((batch * size < (k + 1) * pixels).all())
        assert bool(((batch + 1) * size > k * pixels).all())


def test_every_pixel_is_equally_likely() -> None:
    torch.manual_seed(2)
    pixels, size, draws = 10, 3, 20000
    counts = torch.zeros(pixels)
    for _ in range(draws):
        counts += torch.bincount(stratified_batch(pixels, size), minlength=pixels)
    frequency = counts / draws
    # each pixel is drawn with probability size / pixels = 0.3; 0.015 is ~4.6 sigma
    assert torch.allclose(frequency, torch.full((pixels,), 0.3), atol=0.015), frequency


def test_noise_is_added_in_reused_buffers_and_passes_gradients() -> None:
    from nfcodec.fit.trainer import UniformNoise

    torch.manual_seed(0)
    tables = [torch.randn(50, 2, requires_grad=True), torch.randn(7, 1, requires_grad=True)]
    noise = UniformNoise(tables)
    first = noise(tables)
    pointers = [t.data_ptr() for t in first]
    for table, noisy in zip(tables, first, strict=True):
        delta = noisy.detach() - table.detach()
        assert delta.abs().max() <= 0.5 and delta.std() > 0.1  # U(-0.5, 0.5) draws
    weights = [torch.randn(t.shape) for t in tables]
    sum((w * n).sum() for w, n in zip(weights, first, strict=True)).backward()
    for table, w in zip(tables, weights, strict=True):
        torch.testing.assert_close(table.grad, w)  # d(table + noise)/d table = 1
    second = noise(tables)
    assert [t.data_ptr() for t in second] == pointers  # no latent-sized allocation per step


def test_progress_reports_the_coded_size_and_leaves_the_file_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every progress line carries the exact coded-size estimate (never the training proxy),
    and reporting it changes no byte of the file."""
    import nfcodec
    from nfcodec import codec
    from tests.conftest import TEST_PRESET, gradient_noise, register_test_presets

    register_test_presets()
    image = gradient_noise(24, 32, 3)
    seen: list = []
    monkeypatch.setattr(codec._Bar, "__call__", lambda self, p: seen.append(p))
    shown = nfcodec.encode_image(image, preset=TEST_PRESET, device="cpu", quiet=False)
    silent = nfcodec.encode_image(image, preset=TEST_PRESET, device="cpu", quiet=True)
    assert shown.data == silent.data
    assert seen and all(p.coded_bpp is not None and p.coded_bpp > 0 for p in seen)
    assert seen[-1].step == seen[-1].steps
    assert 0.5 * shown.bpp < seen[-1].coded_bpp < 2.0 * shown.bpp


def test_latents_take_the_presets_second_moment_decay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The latent group's Adam beta2 is the preset's (rate control depends on it), the network
    keeps Adam's default, and progress lines carry the rate term the step trained on."""
    import dataclasses

    import nfcodec
    from nfcodec import codec
    from nfcodec.fit.presets import PRESETS
    from tests.conftest import TEST_PRESET, gradient_noise, register_test_presets

    register_test_presets()
    monkeypatch.setitem(
        PRESETS, "beta-probe", dataclasses.replace(PRESETS[TEST_PRESET], latent_beta2=0.95)
    )
    groups: list[list[dict]] = []
    real_adam = torch.optim.Adam

    def recording_adam(params, **kwargs):  # type: ignore[no-untyped-def]
        optimiser = real_adam(params, **kwargs)
        groups.append(optimiser.param_groups)
        return optimiser

    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    seen: list = []
    monkeypatch.setattr(codec._Bar, "__call__", lambda self, p: seen.append(p))
    nfcodec.encode_image(gradient_noise(16, 16, 3), preset="beta-probe", device="cpu", quiet=False)
    latent_group, network_group = groups[0][0], groups[0][1]
    assert latent_group["betas"] == (0.9, 0.95)
    assert network_group["betas"] == (0.9, 0.999)
    assert all(p.train_bpp > 0 for p in seen if p.step < p.steps * 0.9)
