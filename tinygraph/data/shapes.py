"""Shapes: a synthetic RGB dataset of 10 shape classes, drawn on the fly, no download.

Why synthetic: the course walks colour images through a CNN, and CNN Explainer teaches
with a Tiny VGG on 64x64 colour pictures of 10 classes.  Real colour datasets need a
download (CIFAR-10 is 163 MB) and minutes per epoch on a laptop; these pictures are
generated in seconds, offline, and are hard in the way that matters: the class is the
*outline* of one shape, while its colour, size, position and tilt are random and
independent of the class, the background is a coloured, textured, noisy field, and one
or two distractors (thin strokes, soft blobs) lie under the shape.  Shapes stand roughly
upright (tilted by up to :data:`MAX_TILT` degrees either way), as objects in photos do, near
the middle of the picture; no class is another one turned (the diamond is a narrow rhombus,
never a tilted square).  Colour alone says
nothing about the class and a linear classifier on raw pixels does poorly; a small CNN,
which looks for the same edges everywhere, learns it.  Because every picture is drawn
from known parameters, the shape's pixel mask is known exactly -- ground truth for
checking what an explanation method points at.

How a picture is drawn (vectorised NumPy over a few images at a time):

1. background: a linear blend of two random colours, coloured low-frequency blotches
   and a faint stripe pattern;
2. one or two distractors: anti-aliased line segments or soft round blobs;
3. the shape: its signed distance function (negative inside, in units of the shape's
   radius) is evaluated at every pixel centre; coverage ``clip(0.5 - distance_in_pixels,
   0, 1)`` gives anti-aliased edges.  Its colour is the first of a few random colours
   that stands out from the background under it, with a gentle shading gradient;
4. per-pixel noise (uniform, of a random strength per picture); the result is stored as uint8.

Determinism: images are made in blocks of :data:`BLOCK` (each class ``BLOCK // 10``
times, shuffled); block ``k`` of a split draws everything from
``np.random.default_rng([seed, split, k])`` with split 0 for train and 1 for test, so
the two splits come from disjoint seeds, every run gives the same pictures, and
``Shapes(n=100)`` is the first 100 images of ``Shapes(n=10_000)``.

::

    train = Shapes(train=True)                 # 10,000 images (3, 64, 64) float32 in [0, 1]
    test = Shapes(train=False)                 # 2,000 other images
    x, label, mask = Shapes(n=8, return_masks=True)[0]   # mask: bool (64, 64), True on the shape
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .dataset import ImageDataset, _check_batch_indices, _check_index

__all__ = ["Shapes", "SHAPE_CLASSES", "render_shapes"]

SHAPE_CLASSES = [
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "diamond",
    "heart",
    "arrow",
    "crescent",
]
BLOCK = 250  # images per independently seeded block; a multiple of 10, so every block is balanced
RENDER_CHUNK = 50  # images drawn together (whole blocks at 64x64 overflow the CPU caches and run slower)
DEFAULT_N = {True: 10_000, False: 2_000}
MIN_SIZE = 16  # below this the shapes are a few pixels wide and lose their outlines
RADIUS = (0.28, 0.38)  # the shape's radius (it fits in that circle) as a fraction of the image side
OFFSET = 0.1  # the largest distance of its centre from the picture's, as a fraction of the side
MAX_TILT = 45  # degrees: shapes stand roughly upright, as objects in photos do, tilted by up to this much


# ----------------------------------------------------------------------------------------------
# Signed distance functions in the shape's own frame: (u, v) with v pointing up, the shape
# inside the unit circle.  Negative inside, positive outside, in units of the shape's radius.


def _polygon(u, v, vertices):
    """Signed distance to the polygon ``vertices`` (a closed list of (x, y)); Inigo Quilez's formula.

    The distance is the nearest edge's; the sign flips at every edge that a ray from the
    point towards +x crosses, so it is negative inside (convex or not).
    """
    vx = np.array([p[0] for p in vertices], dtype=np.float32)
    vy = np.array([p[1] for p in vertices], dtype=np.float32)
    d2 = np.full(u.shape, np.inf, dtype=np.float32)
    inside = np.zeros(u.shape, dtype=bool)
    for i in range(len(vertices)):
        j = i - 1
        ex, ey = vx[j] - vx[i], vy[j] - vy[i]  # edge from vertex i to vertex i - 1
        wx, wy = u - vx[i], v - vy[i]
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        bx, by = wx - ex * t, wy - ey * t
        np.minimum(d2, bx * bx + by * by, out=d2)
        above_i, below_j, left = v >= vy[i], v < vy[j], ex * wy > ey * wx
        inside ^= (above_i & below_j & left) | (~above_i & ~below_j & ~left)
    d = np.sqrt(d2)
    return np.where(inside, -d, d)


def _box(u, v, half_w, half_h):
    """Signed distance to the axis-aligned rectangle ``|u| <= half_w, |v| <= half_h``."""
    qx, qy = np.abs(u) - half_w, np.abs(v) - half_h
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _circle(u, v, radius, cx=0.0, cy=0.0):
    return np.sqrt((u - cx) ** 2 + (v - cy) ** 2) - radius


def _star_vertices(points=5, outer=1.0, inner=0.45):
    angles = np.pi / 2 + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return list(zip(radii * np.cos(angles), radii * np.sin(angles)))


_TRIANGLE = [(np.cos(a), np.sin(a)) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
_STAR = _star_vertices()
_DIAMOND = [(0.0, 1.0), (-0.55, 0.0), (0.0, -1.0), (0.55, 0.0)]  # a rhombus: never a rotated square
_ARROW = [(-0.95, 0.2), (0.15, 0.2), (0.15, 0.6), (0.95, 0.0), (0.15, -0.6), (0.15, -0.2), (-0.95, -0.2)]
_SQRT_HALF = np.float32(np.sqrt(0.5))


def _heart(u, v):
    # A square standing on a corner, with a half-disc on each of its two upper sides.
    c, h = -0.25, 0.7  # the square's centre height and half-diagonal
    ru, rv = (u + (v - c)) * _SQRT_HALF, (-u + (v - c)) * _SQRT_HALF  # rotate by 45 degrees
    square = _box(ru, rv, h * _SQRT_HALF, h * _SQRT_HALF)
    r = h * _SQRT_HALF  # half the square's side
    lobes = np.minimum(_circle(u, v, r, -h / 2, c + h / 2), _circle(u, v, r, h / 2, c + h / 2))
    return np.minimum(square, lobes)


_SDF = {
    "circle": lambda u, v: _circle(u, v, 0.9),
    "square": lambda u, v: _box(u, v, 0.7, 0.7),
    "triangle": lambda u, v: _polygon(u, v, _TRIANGLE),
    "star": lambda u, v: _polygon(u, v, _STAR),
    "cross": lambda u, v: np.minimum(_box(u, v, 0.95, 0.3), _box(u, v, 0.3, 0.95)),
    "ring": lambda u, v: np.abs(np.sqrt(u * u + v * v) - 0.7) - 0.25,
    "diamond": lambda u, v: _polygon(u, v, _DIAMOND),
    "heart": _heart,
    "arrow": lambda u, v: _polygon(u, v, _ARROW),
    "crescent": lambda u, v: np.maximum(_circle(u, v, 0.95), -_circle(u, v, 0.75, 0.45, 0.1)),
}


# ----------------------------------------------------------------------------------------------
# Drawing


def _coverage(distance_px):
    """Anti-aliased coverage of a pixel whose centre is ``distance_px`` pixels from an edge."""
    return np.clip(np.float32(0.5) - distance_px, 0.0, 1.0)


def _blend(image, alpha, colour):
    """``image: (B, 3, H, W)`` painted with ``colour: (B, 3)`` (or (B, 3, H, W)) where ``alpha: (B, H, W)``."""
    colour = colour[:, :, None, None] if colour.ndim == 2 else colour
    a = alpha[:, None]
    return image * (1 - a) + colour * a


def _upsample_matrix(size: int, grid: int) -> np.ndarray:
    """``(size, grid)`` bilinear weights that stretch ``grid`` samples over ``size`` pixel centres."""
    pos = (np.arange(size) + 0.5) / size * (grid - 1)
    lo = np.minimum(np.floor(pos).astype(int), grid - 2)
    frac = pos - lo
    m = np.zeros((size, grid), dtype=np.float32)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _draw_params(rng: np.random.Generator, size: int) -> dict:
    """Every random choice for one block of ``BLOCK`` images (cheap: no per-pixel arrays except noise)."""
    b = BLOCK
    u = rng.random
    p = {"labels": rng.permutation(np.arange(b) % len(SHAPE_CLASSES))}
    # background: two colours blended along a random direction, blotches, stripes
    p["bg_colours"] = u((b, 2, 3), dtype=np.float32)
    p["bg_angle"] = u(b, dtype=np.float32) * 2 * np.pi
    p["blotches"] = (u((b, 3, 5, 5), dtype=np.float32) - 0.5) * (0.1 + 0.3 * u((b, 1, 1, 1), dtype=np.float32))
    p["stripe_freq"] = 3 + 7 * u(b, dtype=np.float32)  # cycles per image
    p["stripe_angle"] = u(b, dtype=np.float32) * np.pi
    p["stripe_phase"] = u(b, dtype=np.float32) * 2 * np.pi
    p["stripe_amp"] = 0.05 * u(b, dtype=np.float32)
    # distractors: two slots; the second is used by half the images; kind 0 = stroke, 1 = blob
    p["d_used"] = np.stack([np.ones(b, bool), u(b) < 0.5], axis=1)
    p["d_kind"] = rng.integers(0, 2, (b, 2))
    p["d_start"] = u((b, 2, 2), dtype=np.float32) * size
    p["d_angle"] = u((b, 2), dtype=np.float32) * 2 * np.pi
    p["d_length"] = (0.25 + 0.5 * u((b, 2), dtype=np.float32)) * size
    p["d_width"] = (0.015 + 0.025 * u((b, 2), dtype=np.float32)) * size  # stroke thickness / blob radius
    p["d_colour"] = u((b, 2, 3), dtype=np.float32)
    # the shape: radius, centre, rotation, colour candidates
    p["radius"] = (RADIUS[0] + (RADIUS[1] - RADIUS[0]) * u(b, dtype=np.float32)) * size
    # near the middle, as in photos of objects, off-centre by up to OFFSET of the side (never cut by the border)
    p["centre"] = (0.5 + OFFSET * (2 * u((b, 2), dtype=np.float32) - 1)) * size
    p["angle"] = (2 * u(b, dtype=np.float32) - 1) * np.float32(np.radians(MAX_TILT))
    p["colour_candidates"] = u((b, 6, 3), dtype=np.float32)
    p["shade_angle"] = u(b, dtype=np.float32) * 2 * np.pi
    p["noise_std"] = 0.01 + 0.04 * u(b, dtype=np.float32)
    # uniform noise from raw bytes (far cheaper than Gaussian draws for 3 * size * size values per image)
    p["noise"] = np.frombuffer(rng.bytes(b * 3 * size * size), dtype=np.uint8).reshape(b, 3, size, size)
    return p


def _background(p, size, ys, xs):
    n = p["labels"].shape[0]
    # linear blend of two colours along a random direction, t in [0, 1] across the picture
    ca, sa = np.cos(p["bg_angle"])[:, None, None], np.sin(p["bg_angle"])[:, None, None]
    t = ((xs / size - 0.5) * ca + (ys / size - 0.5) * sa) / np.sqrt(np.float32(0.5)) * 0.5 + 0.5
    c0, c1 = p["bg_colours"][:, 0, :, None, None], p["bg_colours"][:, 1, :, None, None]
    image = c0 + (c1 - c0) * t[:, None]
    # coloured blotches: a 5x5 grid of random offsets per channel, bilinearly stretched
    m = _upsample_matrix(size, p["blotches"].shape[-1])
    image = image + np.einsum("hi,bcij,wj->bchw", m, p["blotches"], m, optimize=True)
    # a faint stripe pattern that brightens and darkens all channels together
    ka, kb = np.cos(p["stripe_angle"])[:, None, None], np.sin(p["stripe_angle"])[:, None, None]
    phase = 2 * np.pi * p["stripe_freq"][:, None, None] * (xs * ka + ys * kb) / size + p["stripe_phase"][:, None, None]
    image = image + (p["stripe_amp"][:, None, None] * np.sin(phase))[:, None]
    return image.reshape(n, 3, size, size).astype(np.float32, copy=False)


def _distractors(image, p, ys, xs):
    """Paint each image's distractors (strokes and blobs) over its background, in place."""
    for slot in range(2):
        for kind in (0, 1):  # 0: stroke, 1: blob; each computed only for the images that have it
            idx = np.flatnonzero(p["d_used"][:, slot] & (p["d_kind"][:, slot] == kind))
            if idx.size == 0:
                continue
            wx = xs - p["d_start"][idx, slot, 0, None, None]
            wy = ys - p["d_start"][idx, slot, 1, None, None]
            width = p["d_width"][idx, slot, None, None]
            if kind == 0:  # distance to the segment from the start point, `length` pixels along `angle`
                ex = (np.cos(p["d_angle"][idx, slot]) * p["d_length"][idx, slot])[:, None, None]
                ey = (np.sin(p["d_angle"][idx, slot]) * p["d_length"][idx, slot])[:, None, None]
                t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
                alpha = _coverage(np.sqrt((wx - ex * t) ** 2 + (wy - ey * t) ** 2) - width / 2)
            else:  # a soft round spot: Gaussian falloff around the start point
                alpha = 0.8 * np.exp(-(wx * wx + wy * wy) / (8 * width * width))
            image[idx] = _blend(image[idx], alpha.astype(np.float32, copy=False), p["d_colour"][idx, slot])
    return image


def _shape_alpha(p, size, ys, xs):
    """Coverage ``(n, H, W)`` of each image's shape, one class at a time (one SDF per class)."""
    n = p["labels"].shape[0]
    alpha = np.empty((n, size, size), dtype=np.float32)
    for c, name in enumerate(SHAPE_CLASSES):
        idx = np.flatnonzero(p["labels"] == c)
        if idx.size == 0:
            continue
        r = p["radius"][idx, None, None]
        cos, sin = np.cos(p["angle"][idx])[:, None, None], np.sin(p["angle"][idx])[:, None, None]
        dx, dy = xs - p["centre"][idx, 0, None, None], ys - p["centre"][idx, 1, None, None]
        # pixel offsets -> the shape's frame: rotate, scale by 1/radius, and flip y to point up
        u = (cos * dx + sin * dy) / r
        v = (sin * dx - cos * dy) / r
        alpha[idx] = _coverage(_SDF[name](u, v) * r)
    return alpha


def _shape_colour(image, alpha, p):
    """The first candidate colour at least 0.6 (RGB distance) from the background under the shape."""
    weight = alpha / np.maximum(alpha.sum(axis=(1, 2), keepdims=True), 1e-6)
    under = np.einsum("bchw,bhw->bc", image, weight)
    distance = np.linalg.norm(p["colour_candidates"] - under[:, None], axis=2)
    far_enough = distance >= 0.6
    pick = np.where(far_enough.any(axis=1), far_enough.argmax(axis=1), distance.argmax(axis=1))
    return p["colour_candidates"][np.arange(len(pick)), pick]


def render_shapes(params: dict, size: int, return_masks: bool = False):
    """Draw the images whose random choices are ``params`` (from ``_draw_params``, maybe cut short).

    Returns ``images: uint8 (n, 3, size, size)`` and ``masks: bool (n, size, size)`` (or None):
    True where the shape covers at least half of a pixel.
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)  # pixel centres
    image = _background(params, size, ys, xs)
    image = _distractors(image, params, ys, xs)
    alpha = _shape_alpha(params, size, ys, xs)
    colour = _shape_colour(image, alpha, params)
    # gentle shading across the shape, as if lit from one side: +-15% over its radius
    sc, ss = np.cos(params["shade_angle"])[:, None, None], np.sin(params["shade_angle"])[:, None, None]
    dx, dy = xs - params["centre"][:, 0, None, None], ys - params["centre"][:, 1, None, None]
    shade = 1 + 0.15 * (dx * sc + dy * ss) / params["radius"][:, None, None]
    image = _blend(image, alpha, colour[:, :, None, None] * shade[:, None])
    # bytes 0..255 -> uniform noise with mean 0 and standard deviation noise_std (a uniform's is width / sqrt 12)
    scale = params["noise_std"] * np.float32(np.sqrt(12) / 256)
    image += scale[:, None, None, None] * (params["noise"] - np.float32(127.5))
    pixels = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return pixels, (alpha >= 0.5 if return_masks else None)


class Shapes(ImageDataset):
    """Synthetic 64x64 colour pictures of 10 shapes on busy backgrounds; offline, generated in seconds.

    Args:
        train:        the training split (True) or the test split (False); drawn from disjoint seeds.
        size:         image side in pixels (>= 16); the pictures scale with it.
        n:            number of images (default 10,000 for train, 2,000 for test).
        seed:         which family of pictures; the same ``seed`` gives the same pictures every time.
        transform:    applied to each float32 image ``(3, size, size)`` in [0, 1]; a
                      ``tinygraph.data.transforms`` transform gets whole batches.
        return_masks: items become ``(image, label, mask)`` with ``mask`` a bool Tensor
                      ``(size, size)``, True on the pixels the shape covers (at least half).

    ``ds[i]`` is ``(image, label)``: a float32 Tensor ``(3, size, size)`` in [0, 1] and an int in
    0..9 naming ``ds.classes[label]``.  Every class appears equally often in each block of
    :data:`BLOCK` images.  See the module docstring for how the pictures are drawn and why.
    """

    classes = SHAPE_CLASSES

    def __init__(self, train: bool = True, size: int = 64, n=None, seed: int = 0, transform=None, return_masks=False):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
            raise ValueError(f"Shapes: size must be an int >= {MIN_SIZE} (the image side in pixels), got {size!r}")
        n = DEFAULT_N[bool(train)] if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"Shapes: n must be a non-negative int (the number of images), got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Shapes: seed must be a non-negative int, got {seed!r}")
        self.train, self.size, self.seed = bool(train), int(size), int(seed)
        self.return_masks = bool(return_masks)
        images = np.empty((n, 3, size, size), dtype=np.uint8)
        labels = np.empty(n, dtype=np.int64)
        masks = np.empty((n, size, size), dtype=bool) if self.return_masks else None
        split = 0 if self.train else 1
        for block, start in enumerate(range(0, n, BLOCK)):
            k = min(BLOCK, n - start)
            params = _draw_params(np.random.default_rng([self.seed, split, block]), self.size)
            labels[start : start + k] = params["labels"][:k]
            for first in range(0, k, RENDER_CHUNK):  # a few images at a time: their arrays stay in cache
                part = {key: value[first : min(first + RENDER_CHUNK, k)] for key, value in params.items()}
                at = slice(start + first, start + first + part["labels"].shape[0])
                images[at], part_masks = render_shapes(part, self.size, self.return_masks)
                if masks is not None:
                    masks[at] = part_masks
        self.masks = masks
        super().__init__(images, labels, transform=transform, pixel_max=255, classes=self.classes)

    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        if not self.return_masks:
            return image, label
        return image, label, Tensor._wrap(self.masks[_check_index(index, len(self), "Shapes")])

    def _get_batch(self, indices) -> tuple:
        images, labels = super()._get_batch(indices)
        if not self.return_masks:
            return images, labels
        return images, labels, self.masks[_check_batch_indices(indices, len(self), "Shapes")]

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"Shapes({split}, n={len(self)}, size={self.size}, seed={self.seed}, transform={self.transform!r})"
