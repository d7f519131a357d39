"""Tests for image/video reading and atomic writing."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nfcodec import io as nio
from nfcodec.container.spec import MAX_PIXELS, MAX_SIDE
from nfcodec.errors import InputError, NfcError
from nfcodec.io import read_image, read_video, sample_image_path, write_bytes_atomic, write_png

VIDEO = Path("/work/shared/datasets/video/carphone_qcif.mp4")


def _rgb(h: int = 9, w: int = 13, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _raw_png(width: int, height: int, depth: int, colour_type: int, rows: bytes) -> bytes:
    """A minimal PNG built by hand, for bit depths and sizes Pillow will not write."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------- bundled sample


def test_sample_image() -> None:
    path = sample_image_path()
    assert path.is_file()
    assert path.stat().st_size < 40_000
    img = read_image(path)
    assert img.shape == (96, 128, 3)
    assert img.dtype == np.uint8
    assert img.std() > 20  # has texture, not a flat patch


# --------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".png", {}), (".ppm", {}), (".bmp", {}), (".tif", {}), (".webp", {"lossless": True})],
)
def test_lossless_formats_roundtrip(tmp_path: Path, suffix: str, options: dict) -> None:
    img = _rgb()
    path = tmp_path / f"x{suffix}"
    Image.fromarray(img).save(path, **options)
    out = read_image(path)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous
    assert np.array_equal(out, img)


def test_jpeg_rgb_and_gray(tmp_path: Path) -> None:
    Image.fromarray(_rgb(16, 16)).save(tmp_path / "c.jpg")
    assert read_image(tmp_path / "c.jpg").shape == (16, 16, 3)
    Image.fromarray(_rgb(16, 16)[..., 0]).save(tmp_path / "g.jpg")
    assert read_image(tmp_path / "g.jpg").shape == (16, 16, 1)


def test_gray_and_tiny(tmp_path: Path) -> None:
    gray = _rgb()[..., 1]
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert np.array_equal(read_image(tmp_path / "g.png")[..., 0], gray)
    Image.fromarray(np.array([[[1, 2, 3]]], np.uint8)).save(tmp_path / "one.png")
    assert read_image(tmp_path / "one.png").tolist() == [[[1, 2, 3]]]


def test_long_thin_image(tmp_path: Path) -> None:
    img = _rgb(1, MAX_SIDE)
    Image.fromarray(img).save(tmp_path / "thin.png")
    assert np.array_equal(read_image(tmp_path / "thin.png"), img)


# --------------------------------------------------------------------- mode conversions


def test_bilevel_becomes_gray(tmp_path: Path) -> None:
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png")[..., 0].tolist() == [[0, 255, 255], [255, 0, 0]]


def test_colour_palette(tmp_path: Path) -> None:
    img = _rgb(6, 6)
    Image.fromarray(img).quantize(colors=256).save(tmp_path / "p.png")
    expected = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    out = read_image(tmp_path / "p.png")
    assert out.shape == (6, 6, 3)
    assert np.array_equal(out, expected)


def test_gray_palette_becomes_gray(tmp_path: Path) -> None:
    im = Image.new("P", (4, 3))
    im.putpalette([v for g in range(256) for v in (g, g, g)])
    im.putdata([0, 10, 20, 30] * 3)
    im.save(tmp_path / "gp.png")
    out = read_image(tmp_path / "gp.png")
    assert out.shape == (3, 4, 1)
    assert out[0, :, 0].tolist() == [0, 10, 20, 30]


def test_palette_with_used_transparency_refused(tmp_path: Path) -> None:
    im = Image.new("P", (2, 2))
    im.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    im.putdata([0, 1, 1, 1])
    im.save(tmp_path / "pt.png", transparency=0)
    with pytest.raises(InputError, match="transparency"):
        read_image(tmp_path / "pt.png")


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_opaque_alpha_dropped(tmp_path: Path, mode: str) -> None:
    img = _rgb()
    base = Image.fromarray(img if mode == "RGBA" else img[..., 0])
    base.convert(mode).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert np.array_equal(out, img if mode == "RGBA" else img[..., :1])


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_real_alpha_refused(tmp_path: Path, mode: str) -> None:
    im = Image.fromarray(_rgb()).convert(mode)
    im.putpixel((0, 0), (1, 2, 3, 128) if mode == "RGBA" else (1, 128))
    path = tmp_path / "a.png"
    im.save(path)
    with pytest.raises(InputError, match=r"a\.png: .* with transparency is not supported"):
        read_image(path)


def test_colour_key_transparency(tmp_path: Path) -> None:
    img = _rgb()
    img[0, 0] = (7, 7, 7)
    img[1:, :] = np.maximum(img[1:, :], 8)
    Image.fromarray(img).save(tmp_path / "key.png", transparency=(7, 7, 7))
    with pytest.raises(InputError, match="transparency"):
        read_image(tmp_path / "key.png")
    Image.fromarray(img).save(tmp_path / "unused.png", transparency=(0, 0, 0))
    assert np.array_equal(read_image(tmp_path / "unused.png"), img)


def test_sixteen_bit_gray_from_eight_bit(tmp_path: Path) -> None:
    gray = _rgb()[..., 0]
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert np.array_equal(read_image(tmp_path / "g16.png")[..., 0], gray)


def test_true_sixteen_bit_gray_refused(tmp_path: Path) -> None:
    wide = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000 + 1
    Image.fromarray(wide).save(tmp_path / "g16.png")
    with pytest.raises(InputError, match="g16.png: .*8-bit"):
        read_image(tmp_path / "g16.png")


def test_sixteen_bit_colour_refused(tmp_path: Path) -> None:
    samples = (np.arange(2 * 3 * 3).reshape(2, 3, 3) * 257).astype(">u2")
    rows = b"".join(b"\x00" + samples[r].tobytes() for r in range(2))
    (tmp_path / "rgb16.png").write_bytes(_raw_png(3, 2, 16, 2, rows))
    with pytest.raises(InputError, match="16-bit"):
        read_image(tmp_path / "rgb16.png")


@pytest.mark.parametrize(("maxval", "ok"), [(255, True), (65535, False), (1023, False)])
def test_ppm_depth(tmp_path: Path, maxval: int, ok: bool) -> None:
    path = tmp_path / "x.ppm"
    if maxval > 255:
        body = (np.arange(12) * (maxval // 16)).astype(">u2").tobytes()
    else:
        body = bytes(range(12))
    path.write_bytes(b"P6\n2 2\n%d\n" % maxval + body)
    if ok:
        assert read_image(path).reshape(-1).tolist() == list(range(12))
    else:
        with pytest.raises(InputError, match="16-bit"):
            read_image(path)


def test_pgm_sixteen_bit(tmp_path: Path) -> None:
    path = tmp_path / "x.pgm"
    path.write_bytes(b"P5\n2 2\n65535\n" + (np.arange(4) * 257 * 50).astype(">u2").tobytes())
    assert read_image(path).reshape(-1).tolist() == [0, 50, 100, 150]
    path.write_bytes(b"P5\n2 2\n65535\n" + (np.arange(4) * 1000).astype(">u2").tobytes())
    with pytest.raises(InputError, match="8-bit"):
        read_image(path)


@pytest.mark.parametrize(("mode", "suffix"), [("CMYK", ".jpg"), ("CMYK", ".tif"), ("F", ".tif")])
def test_lossy_modes_refused(tmp_path: Path, mode: str, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    Image.new(mode, (4, 4)).save(path)
    with pytest.raises(InputError, match=f"{mode} images are not supported"):
        read_image(path)


def test_first_frame_of_animation(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (5, 5), (255, 0, 0)), Image.new("RGB", (5, 5), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = read_image(tmp_path / "anim.gif")
    assert out.shape == (5, 5, 3)
    assert out[0, 0].tolist() == [255, 0, 0]


# --------------------------------------------------------------------- failures


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.png: no such file"):
        read_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_image(tmp_path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello\n")
    with pytest.raises(InputError, match="notes.png: not an image"):
        read_image(path)


def test_truncated_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(_rgb(64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="cut.png: cannot decode"):
        read_image(path)


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(_rgb(64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(NfcError) as info:
        read_image(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("width", "height", "pattern"),
    [(MAX_SIDE + 1, 1, "side limit"), (8192, 8193, "pixel limit"), (65535, 65535, "pixel limit")],
)
def test_oversized_header_refused(tmp_path: Path, width: int, height: int, pattern: str) -> None:
    # Only the header is valid; the check must fire before any pixel is decoded.
    assert width * height > MAX_PIXELS or width > MAX_SIDE
    path = tmp_path / "big.png"
    path.write_bytes(_raw_png(width, height, 8, 2, b""))
    with pytest.raises(InputError, match=pattern):
        read_image(path)


def test_pillow_limit_restored(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    Image.fromarray(_rgb()).save(tmp_path / "x.png")
    read_image(tmp_path / "x.png")
    assert before == Image.MAX_IMAGE_PIXELS


# --------------------------------------------------------------------- writing


@pytest.mark.parametrize("shape", [(5, 7, 3), (5, 7, 1), (5, 7), (1, 1, 3)])
def test_write_png_roundtrip(tmp_path: Path, shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "out.png"
    write_png(img, path)
    out = read_image(path)
    assert np.array_equal(out.reshape(img.shape), img)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros(4, np.uint8)],
)
def test_write_png_bad_array(tmp_path: Path, array: np.ndarray) -> None:
    with pytest.raises(InputError, match="cannot write"):
        write_png(array, tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_atomic_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write_bytes_atomic(path, b"first")
    write_bytes_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert _leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot write .*f\.bin: "):
        write_bytes_atomic(tmp_path / "no" / "f.bin", b"x")


def test_write_onto_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="cannot write"):
        write_bytes_atomic(tmp_path / "d", b"x")
    assert _leftovers(tmp_path) == []


def test_failed_replace_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nio.os, "replace", broken_replace)
    with pytest.raises(InputError, match="No space left on device"):
        write_bytes_atomic(path, b"new contents")
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_interrupt_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(nio.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomic(tmp_path / "f.bin", b"data")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------- video


@pytest.mark.skipif(not VIDEO.is_file(), reason="shared video dataset not present")
def test_read_video_first_frames() -> None:
    frames = read_video(VIDEO, max_frames=3)
    assert frames.shape == (3, 144, 176, 3)
    assert frames.dtype == np.uint8
    assert frames.std() > 10


def test_read_video_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_video(tmp_path / "none.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="junk.mp4"):
        read_video(junk, max_frames=1)
    with pytest.raises(InputError, match="max_frames"):
        read_video(junk, max_frames=0)
