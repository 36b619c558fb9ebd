"""tg.data.Shapes: determinism, balance, disjoint splits, value range, masks that match the labels.

The mask checks use geometry worked out by hand here (each shape's area in units of its radius,
and which shapes have a hole), not the dataset's own drawing code.  Small sizes and counts keep
this file fast.
"""

import math

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.data import DataLoader, Shapes
from tinygraph.data.shapes import BLOCK, RADIUS

SIZE = 32


@pytest.fixture(scope="module")
def train_block():
    return Shapes(train=True, size=SIZE, n=BLOCK, return_masks=True)


def test_items_are_float_images_in_the_unit_range_and_int_labels(train_block):
    image, label, mask = train_block[0]
    assert isinstance(image, tg.Tensor) and image.shape == (3, SIZE, SIZE) and image.dtype == np.float32
    assert isinstance(label, int) and 0 <= label < 10
    assert mask.shape == (SIZE, SIZE) and mask.dtype == np.bool_
    x, y = train_block.arrays()
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert x.std() > 0.1  # colourful pictures, not a flat grey
    assert train_block.classes[label] in tg.data.Shapes.classes and len(set(train_block.classes)) == 10
    plain = Shapes(size=SIZE, n=3)
    assert len(plain[0]) == 2  # (image, label) without return_masks


def test_same_pictures_every_time_and_a_shorter_dataset_is_a_prefix(train_block):
    again = Shapes(train=True, size=SIZE, n=BLOCK + 7, return_masks=True)
    x_block, y_block = train_block.arrays()
    x_again, y_again = again.arrays()
    np.testing.assert_array_equal(x_again[:BLOCK], x_block)
    np.testing.assert_array_equal(y_again[:BLOCK], y_block)
    np.testing.assert_array_equal(again.masks[:BLOCK], train_block.masks)
    assert not np.array_equal(x_again[BLOCK:], x_block[:7])  # the next block is new pictures
    other_seed, _ = Shapes(train=True, size=SIZE, n=7, seed=1).arrays()
    assert not np.array_equal(other_seed, x_block[:7])


def test_every_block_is_balanced(train_block):
    _, y = train_block.arrays()
    assert np.bincount(y, minlength=10).tolist() == [BLOCK // 10] * 10


def test_train_and_test_share_no_picture(train_block):
    x_train, _ = train_block.arrays()
    x_test, _ = Shapes(train=False, size=SIZE, n=BLOCK).arrays()
    train_bytes = {image.tobytes() for image in x_train}
    assert not any(image.tobytes() in train_bytes for image in x_test)


def _crescent_area() -> float:
    """A disc of radius 0.95 minus its overlap (a lens) with a disc of radius 0.75 at (0.45, 0.1)."""
    r1, r2, d = 0.95, 0.75, math.hypot(0.45, 0.1)
    lens = (
        r1**2 * math.acos((d * d + r1 * r1 - r2 * r2) / (2 * d * r1))
        + r2**2 * math.acos((d * d + r2 * r2 - r1 * r1) / (2 * d * r2))
        - 0.5 * math.sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))
    )
    return math.pi * r1**2 - lens


# Area of each shape at radius 1, worked out from its definition (see SHAPE_CLASSES' outlines).
UNIT_AREA = {
    "circle": math.pi * 0.9**2,
    "square": 1.4**2,
    "triangle": 3 * math.sqrt(3) / 4,  # equilateral, circumradius 1
    "star": 10 * 0.5 * 1.0 * 0.45 * math.sin(math.pi / 5),  # 10 triangles: outer 1, inner 0.45
    "cross": 2 * 1.9 * 0.6 - 0.6**2,  # two 1.9 x 0.6 bars, their overlap counted once
    "ring": math.pi * (0.95**2 - 0.45**2),
    "diamond": 2.0 * 1.1 / 2,  # rhombus with diagonals 2 and 1.1
    "heart": 0.99**2 + math.pi * 0.495**2,  # a square of side 0.7 * sqrt 2 plus two half discs
    "arrow": 1.1 * 0.4 + 1.2 * 0.8 / 2,  # shaft plus triangular head
    "crescent": _crescent_area(),
}


def _has_hole(mask: np.ndarray) -> bool:
    """Is some background pixel cut off from the border (4-connectivity)?  A flood fill by dilation."""
    background = ~np.pad(mask, 1)
    reached = np.zeros_like(background)
    reached[0, :] = reached[-1, :] = reached[:, 0] = reached[:, -1] = True
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= background
        if np.array_equal(grown, reached):
            return bool((background & ~reached).any())
        reached = grown


def test_masks_agree_with_the_labels(train_block):
    _, y = train_block.arrays()
    lo, hi = RADIUS  # the radius range the dataset documents
    for mask, label in zip(train_block.masks, y):
        name = train_block.classes[label]
        area = mask.sum() / SIZE**2
        # Anti-aliasing moves the mask's edge by up to half a pixel: allow that much either way.
        slack = 0.75 * math.sqrt(area) * 4 / SIZE
        assert UNIT_AREA[name] * lo**2 - slack <= area <= UNIT_AREA[name] * hi**2 + slack, (name, area)
        assert _has_hole(mask) == (name == "ring"), name
        # the shape lies inside the picture: no mask pixel on the border
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()), name


def test_the_shape_is_what_stands_out_under_its_mask(train_block):
    # Inside the mask the colour is one (shaded, noisy) colour; it differs from the pixels just outside.
    x, _ = train_block.arrays()
    for image, mask in zip(x[:40], train_block.masks[:40]):
        inside = image[:, mask]
        ring = np.zeros_like(mask)
        ring[1:-1, 1:-1] = mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:]
        outside = image[:, ring & ~mask]
        assert np.linalg.norm(np.median(inside, axis=1) - np.median(outside, axis=1)) > 0.2


def test_loader_batches_carry_masks(train_block):
    images, labels, masks = next(iter(DataLoader(train_block, batch_size=5)))
    assert images.shape == (5, 3, SIZE, SIZE) and labels.shape == (5,) and masks.shape == (5, SIZE, SIZE)
    np.testing.assert_array_equal(masks.numpy(), train_block.masks[:5])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 8}, "size must be an int >= 16"),
        ({"n": -1}, "n must be a non-negative int"),
        ({"n": 2.5}, "n must be a non-negative int"),
        ({"seed": -3}, "seed must be a non-negative int"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Shapes(**kwargs)
