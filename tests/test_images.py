"""read_image, Resize and CenterCrop: files written here, bilinear values worked out by hand."""

import matplotlib.image
import numpy as np
import pytest
from PIL import Image  # Pillow: matplotlib's own dependency; writes the grey PNG, JPEG and GIF files

from tinygraph import Tensor
from tinygraph.data import read_image
from tinygraph.data import transforms as T


# ---------------------------------------------------------------- read_image
def test_png_round_trip_through_matplotlib(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # not square: a height/width mix-up shows
    matplotlib.image.imsave(tmp_path / "x.png", pixels)  # writes RGBA; the alpha is dropped on reading
    image = read_image(tmp_path / "x.png")
    assert isinstance(image, Tensor) and image.shape == (3, 5, 7) and image.dtype == np.float32
    np.testing.assert_allclose(image.numpy(), pixels.transpose(2, 0, 1) / 255, atol=1e-6)
    assert read_image(str(tmp_path / "x.png"), mode="RGB").shape == (3, 5, 7)
    grey = read_image(tmp_path / "x.png", mode="L").numpy()
    luma = 0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2]
    np.testing.assert_allclose(grey[0], luma / 255, atol=1e-5)


def test_grey_png_is_one_channel_or_three_on_request(tmp_path):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(pixels, mode="L").save(tmp_path / "g.png")
    one = read_image(tmp_path / "g.png")
    assert one.shape == (1, 3, 4)
    np.testing.assert_allclose(one.numpy()[0], pixels / 255, atol=1e-6)
    three = read_image(tmp_path / "g.png", mode="RGB").numpy()
    assert three.shape == (3, 3, 4) and all(np.array_equal(three[c], one.numpy()[0]) for c in range(3))


def test_jpeg_is_read_as_floats(tmp_path):
    ramp = np.linspace(0, 255, 32, dtype=np.float64)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128.0), axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.jpg", quality=95)
    image = read_image(tmp_path / "x.jpg").numpy()
    assert image.shape == (3, 32, 32) and image.dtype == np.float32
    np.testing.assert_allclose(image, pixels.transpose(2, 0, 1) / 255, atol=0.06)  # JPEG is lossy


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"read_image: .*nothing\.png is no file"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        read_image(tmp_path)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.gif")
    with pytest.raises(ValueError, match="is a GIF image; read_image reads PNG and JPEG files only"):
        read_image(tmp_path / "x.gif")
    (tmp_path / "notes.png").write_text("not a picture at all")
    with pytest.raises(ValueError, match="notes.png is not an image file"):
        read_image(tmp_path / "notes.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(ValueError, match="cannot decode .*broken.png as PNG"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(ValueError, match="mode must be None, 'RGB' or 'L'"):
        read_image(tmp_path / "x.gif", mode="CMYK")


# -------------------------------------------------------------------- Resize
def test_bilinear_upsampling_by_hand():
    # 2x2 -> 4x4, pixel centres aligned: output i samples input (i + 0.5) / 2 - 0.5 = -0.25, 0.25,
    # 0.75, 1.25; the outer two are clamped to the edge pixels, the inner two mix 3:1 and 1:3.
    x = np.array([[[0.0, 1.0], [2.0, 3.0]]], dtype=np.float32)
    rows_mixed = [
        [0.0, 0.25, 0.75, 1.0],  # row 0
        [0.5, 0.75, 1.25, 1.5],  # 0.75 * row 0 + 0.25 * row 1
        [1.5, 1.75, 2.25, 2.5],  # 0.25 * row 0 + 0.75 * row 1
        [2.0, 2.25, 2.75, 3.0],  # row 1
    ]
    out = T.Resize((4, 4))(x)
    assert out.shape == (1, 4, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], rows_mixed, atol=1e-6)


def test_antialiased_shrinking_by_hand():
    # 4 -> 2 (scale 2): output 0 is centred at input coordinate 1.0; the tent of half-width 2 gives
    # the pixels centred at 0.5, 1.5, 2.5, 3.5 the weights 0.75, 0.75, 0.25, 0 (then / 1.75).
    x = np.array([[[1.0, 2.0, 4.0, 8.0]]], dtype=np.float32)
    out = T.Resize((1, 2))(x)
    left, right = (0.75 * 1 + 0.75 * 2 + 0.25 * 4) / 1.75, (0.25 * 2 + 0.75 * 4 + 0.75 * 8) / 1.75
    np.testing.assert_allclose(out[0, 0], [left, right])
    # without antialiasing, only the two pixels around each centre count: (2 + 4) / 2 would skip 1 and 8
    plain = T.Resize((1, 2), antialias=False)(x)
    np.testing.assert_allclose(plain[0, 0], [1.5, 6.0])


def test_resize_keeps_constants_and_matches_torch_when_installed():
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 17, 23)).astype(np.float32)
    for size in [(5, 9), (17, 23), (40, 31)]:
        out = T.Resize(size)(x)
        assert out.shape == (2, 3, *size)
        np.testing.assert_allclose(T.Resize(size)(np.full((3, 17, 23), 0.3, np.float32)), 0.3, atol=1e-6)
        np.testing.assert_allclose(T.Resize(size)(x[1]), out[1], atol=1e-6)  # one image = one row of the batch
    torch = pytest.importorskip("torch")  # an independent implementation, when it is there
    for size in [(5, 9), (40, 31)]:
        ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="bilinear", antialias=True)
        np.testing.assert_allclose(T.Resize(size)(x), ref.numpy(), atol=1e-5)


def test_resize_int_sets_the_shorter_side_and_keeps_tensors():
    x = Tensor(np.zeros((3, 40, 60), np.float32))
    out = T.Resize(20)(x)
    assert isinstance(out, Tensor) and out.shape == (3, 20, 30)
    assert T.Resize(20)(np.zeros((3, 60, 40), np.float32)).shape == (3, 30, 20)
    for bad in [0, (3,), (2, -1), 2.5, True]:
        with pytest.raises(ValueError, match="Resize: size must be a positive int or a pair"):
            T.Resize(bad)
    with pytest.raises(ValueError, match=r"Resize: expected an image \(C, H, W\)"):
        T.Resize(4)(np.zeros((8, 8)))


# ---------------------------------------------------------------- CenterCrop
def test_center_crop():
    x = np.arange(2 * 1 * 5 * 6, dtype=np.float32).reshape(2, 1, 5, 6)
    out = T.CenterCrop((3, 2))(x)
    np.testing.assert_array_equal(out, x[:, :, 1:4, 2:4])
    np.testing.assert_array_equal(T.CenterCrop(4)(x[0]), x[0, :, 0:4, 1:5])  # odd leftover: extra row at the bottom
    with pytest.raises(ValueError, match=r"CenterCrop: crop size \(6, 6\) is larger than the image \(5, 6\)"):
        T.CenterCrop(6)(x)
    pipeline = T.Compose([T.Resize(8), T.CenterCrop(8), T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])
    assert pipeline.batched and pipeline(np.ones((3, 10, 16), np.float32)).shape == (3, 8, 8)
