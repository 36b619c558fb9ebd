"""tinygraph.data: datasets, DataLoader, transforms and the embedded digits."""

import csv
import gzip
import hashlib
import io
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygraph import random as tgrandom
from tinygraph.data import (
    DataLoader,
    Dataset,
    Digits,
    ImageDataset,
    Subset,
    TensorDataset,
    default_collate,
    load_digits,
    random_split,
)
from tinygraph.data import transforms as T
from tinygraph.serialization import load, save
from tinygraph.tensor import Tensor

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"  # from shared/data/digits/README


def _digits_rows():
    """The packaged CSV parsed with the csv module: [(64 ints, label), ...] in file order."""
    raw = resources.files("tinygraph.data").joinpath("files/digits.csv.gz").read_bytes()
    rows = []
    for record in csv.reader(io.StringIO(gzip.decompress(raw).decode())):
        values = [int(v) for v in record]
        rows.append((values[:64], values[64]))
    return rows


# ------------------------------------------------------------------- digits
def test_packaged_digits_file_has_the_published_sha256():
    raw = resources.files("tinygraph.data").joinpath("files/digits.csv.gz").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DIGITS_SHA256
    assert len(raw) == 57523


def test_digits_split_is_every_fifth_image_of_each_class():
    rows = _digits_rows()
    assert len(rows) == 1797
    seen = {}
    expected = {True: [], False: []}
    for pixels, label in rows:  # a plain loop: the split rule, written independently
        seen[label] = seen.get(label, 0) + 1
        expected[seen[label] % 5 != 0].append((pixels, label))
    for train in (True, False):
        ds = Digits(train=train)
        assert len(ds) == len(expected[train])
        want_x = np.array([p for p, _ in expected[train]], dtype=np.float64).reshape(-1, 1, 8, 8) / 16
        want_y = np.array([lab for _, lab in expected[train]])
        x, y = ds.arrays()
        assert x.dtype == np.float32 and x.shape == (len(ds), 1, 8, 8)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_allclose(x, want_x, rtol=0, atol=1e-7)
    assert len(Digits(train=True)) + len(Digits(train=False)) == 1797


def test_digits_split_is_stratified_and_ignores_the_global_seed():
    tgrandom.manual_seed(1)
    a = Digits(train=False).targets
    tgrandom.manual_seed(2)
    b = Digits(train=False).targets
    np.testing.assert_array_equal(a, b)
    per_class_total = np.bincount([lab for _, lab in _digits_rows()], minlength=10)
    per_class_test = np.bincount(a, minlength=10)
    assert np.all(np.abs(per_class_test / per_class_total - 0.2) < 0.01)


def test_digits_items_and_whole_split_helper():
    ds = Digits(train=True)
    image, label = ds[3]
    assert isinstance(image, Tensor) and image.shape == (1, 8, 8) and image.dtype == np.float32
    assert isinstance(label, int) and 0 <= label <= 9
    assert 0.0 <= ds.arrays()[0].min() and ds.arrays()[0].max() == 1.0
    X, y = load_digits(train=True)
    np.testing.assert_array_equal(X[3], image.data)
    assert y[3] == label
    assert ds.classes == [str(d) for d in range(10)]
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]


def test_digits_transform_is_applied():
    plain, flipped = Digits(train=False), Digits(train=False, transform=T.RandomHorizontalFlip(p=1.0))
    np.testing.assert_array_equal(flipped[0][0].data, plain[0][0].data[:, :, ::-1])
    xb, _ = next(iter(DataLoader(flipped, batch_size=16)))
    x0, _ = next(iter(DataLoader(plain, batch_size=16)))
    np.testing.assert_array_equal(xb.data, x0.data[..., ::-1])


# ------------------------------------------------------------ TensorDataset
def test_tensor_dataset_items_and_errors():
    X = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    y = Tensor(np.arange(6))
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    xi, yi = ds[2]
    assert isinstance(xi, Tensor) and xi.shape == (2, 2) and yi.item() == 2
    np.testing.assert_array_equal(ds[-1][0].data, X[5])
    assert [int(b.item()) for _, b in ds] == list(range(6))  # iteration stops at IndexError
    with pytest.raises(IndexError, match="index 6 is out of range for a dataset of length 6"):
        ds[6]
    with pytest.raises(IndexError):
        ds[-7]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.5]
    with pytest.raises(ValueError, match=r"same length.*\(6, 2, 2\), \(5,\)"):
        TensorDataset(X, np.arange(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(np.float32(1.0))


def test_image_dataset_checks_its_arrays():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(np.zeros((3, 8, 8)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="3 images but 2 targets"):
        ImageDataset(np.zeros((3, 1, 8, 8)), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="int"):
        ImageDataset(np.zeros((3, 1, 8, 8)), np.zeros(3))
    with pytest.raises(TypeError, match="callable"):
        ImageDataset(np.zeros((3, 1, 8, 8)), np.zeros(3, np.int64), transform=5)


# --------------------------------------------------------------- DataLoader
class _Counting(Dataset):
    """A plain dataset (no fast path) that counts item reads."""

    def __init__(self, n):
        self.n, self.reads = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.reads += 1
        return {"x": np.full((2,), i, np.float32), "y": i, "w": 0.5, "name": f"s{i}"}


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(TensorDataset(np.arange(4)), batch_size=bad)


def test_loader_rejects_bad_arguments():
    with pytest.raises(TypeError, match="len"):
        DataLoader(object(), batch_size=2)
    with pytest.raises(TypeError, match="seed"):
        DataLoader(TensorDataset(np.arange(4)), seed=1.5)
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(TensorDataset(np.arange(4)), collate_fn=3)


@pytest.mark.parametrize(
    "n,batch,drop_last,sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (2, 5, False, [2]),
        (2, 5, True, []),
        (0, 4, False, []),
    ],
)
def test_loader_batch_sizes_and_order(n, batch, drop_last, sizes):
    ds = TensorDataset(np.arange(n) * 10, np.arange(n, dtype=np.float32).reshape(n, 1))
    loader = DataLoader(ds, batch_size=batch, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes)
    assert [len(a) for a, _ in batches] == sizes
    got = np.concatenate([a.data for a, _ in batches]) if batches else np.zeros(0)
    np.testing.assert_array_equal(got, (np.arange(n) * 10)[: sum(sizes)])
    for a, b in batches:
        assert a.dtype == np.int64 and b.dtype == np.float32 and b.shape == (len(a), 1)


def test_shuffle_is_a_permutation_reproducible_by_seed():
    ds = TensorDataset(np.arange(50))

    def epochs(loader, k=3):
        return [np.concatenate([b.data for (b,) in loader]) for _ in range(k)]

    a = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=7))
    b = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=7))
    c = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=8))
    for order in a:
        np.testing.assert_array_equal(np.sort(order), np.arange(50))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[1])  # a new order every epoch
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], np.arange(50))


def test_shuffle_without_seed_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    loader = DataLoader(ds, batch_size=30, shuffle=True)
    tgrandom.manual_seed(3)
    first = next(iter(loader))[0].data
    tgrandom.manual_seed(3)
    again = next(iter(loader))[0].data
    tgrandom.manual_seed(4)
    other = next(iter(loader))[0].data
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_loader_state_resumes_the_shuffle_sequence(tmp_path):
    ds = TensorDataset(np.arange(20))
    loader = DataLoader(ds, batch_size=20, shuffle=True, seed=11)
    next(iter(loader))
    save({"loader": loader.state_dict()}, tmp_path / "ckpt.npz")  # through a real checkpoint
    expected = [next(iter(loader))[0].data for _ in range(2)]

    resumed = DataLoader(ds, batch_size=20, shuffle=True, seed=11)
    resumed.load_state_dict(load(tmp_path / "ckpt.npz")["loader"])
    got = [next(iter(resumed))[0].data for _ in range(2)]
    for x, y in zip(got, expected):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ds, batch_size=4).load_state_dict(loader.state_dict())


def test_fast_path_matches_item_by_item_collation():
    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.standard_normal((13, 1, 3, 3)).astype(np.float32), rng.integers(0, 10, 13))
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, seed=5))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, seed=5, collate_fn=default_collate))
    assert len(fast) == len(slow) == 4
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.dtype == sx.dtype == np.float32 and fy.dtype == sy.dtype == np.int64
        np.testing.assert_array_equal(fx.data, sx.data)
        np.testing.assert_array_equal(fy.data, sy.data)
    digits = Digits(train=False)
    fast = next(iter(DataLoader(digits, batch_size=32)))
    slow = next(iter(DataLoader(digits, batch_size=32, collate_fn=default_collate)))
    np.testing.assert_array_equal(fast[0].data, slow[0].data)
    np.testing.assert_array_equal(fast[1].data, slow[1].data)
    assert fast[0].dtype == np.float32 and fast[1].dtype == np.int64


def test_fast_path_does_not_read_items_one_by_one():
    class Watched(TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("per-item read on the fast path")

    for _ in DataLoader(Watched(np.arange(10)), batch_size=3, shuffle=True, seed=0):
        pass
    for _ in DataLoader(Subset(Watched(np.arange(10)), [1, 3, 5]), batch_size=2):
        pass


def test_generic_dataset_collates_dicts_numbers_and_strings():
    ds = _Counting(5)
    batches = list(DataLoader(ds, batch_size=2))
    assert ds.reads == 5 and len(batches) == 3
    first = batches[0]
    np.testing.assert_array_equal(first["x"].data, [[0, 0], [1, 1]])
    assert first["y"].dtype == np.int64 and first["y"].tolist() == [0, 1]
    assert first["w"].dtype == np.float32
    assert first["name"] == ["s0", "s1"]


def test_default_collate_errors():
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])


# ------------------------------------------------------- Subset and splits
def test_subset_maps_indices_and_checks_range():
    ds = TensorDataset(np.arange(10) * 2)
    sub = Subset(ds, [7, 2, 9])
    assert len(sub) == 3 and sub[1][0].item() == 4
    (batch,) = next(iter(DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(batch.data, [14, 4, 18])
    with pytest.raises(IndexError, match="index 10 is out of range"):
        Subset(ds, [1, 10])
    with pytest.raises(IndexError):
        sub[3]
    with pytest.raises(ValueError, match="ints"):
        Subset(ds, [0.5])
    assert len(Subset(ds, [])) == 0


def test_random_split_partitions_the_dataset():
    ds = TensorDataset(np.arange(10))
    parts = random_split(ds, [6, 4], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [6, 4]
    together = np.sort(np.concatenate([p.indices for p in parts]))
    np.testing.assert_array_equal(together, np.arange(10))
    assert [len(p) for p in random_split(ds, [0.5, 0.3, 0.2])] == [5, 3, 2]
    assert [len(p) for p in random_split(TensorDataset(np.arange(11)), [0.5, 0.5])] == [6, 5]
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [5, 4])


# ---------------------------------------------------------------- transforms
def test_normalize_matches_the_formula_per_channel():
    rng = np.random.default_rng(1)
    x = rng.random((5, 3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    out = T.Normalize(mean, std)(x)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (x[:, c] - mean[c]) / std[c], rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(mean, std)(x[2]), out[2])  # one image = one row of the batch
    assert out.dtype == np.float32
    assert T.Normalize(0.5, 0.25)(x.astype(np.float64)).dtype == np.float64
    t = T.Normalize(mean, std)(Tensor(x))
    assert isinstance(t, Tensor)
    with pytest.raises(ValueError, match="positive"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="2 mean/std values for an image with 3 channels"):
        T.Normalize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        T.Normalize(0, 1)(np.zeros((4, 4)))


def _window_offsets(crop, padded):
    """All (top, left) where ``crop`` equals a window of ``padded`` (brute force)."""
    h, w = crop.shape[-2:]
    return [
        (t, s)
        for t in range(padded.shape[-2] - h + 1)
        for s in range(padded.shape[-1] - w + 1)
        if np.array_equal(padded[..., t : t + h, s : s + w], crop)
    ]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(3, 7),
    st.integers(3, 7),
    st.integers(0, 2),
    st.integers(1, 3),
    st.integers(0, 2**31),
)
def test_random_crop_cuts_a_window_of_the_padded_image(n, c, height, width, padding, shrink, seed):
    h, w = max(1, height - shrink), max(1, width + padding - shrink)
    x = np.random.default_rng(seed).random((n, c, height, width)).astype(np.float32) + 1  # nonzero: no fake matches
    out = T.RandomCrop((h, w), padding=padding, generator=np.random.default_rng(seed))(x)
    assert out.shape == (n, c, h, w)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    for i in range(n):
        assert _window_offsets(out[i], padded[i]), f"image {i} is not a window of its padded input"


def test_random_crop_reaches_every_offset_and_each_image_draws_its_own():
    x = np.random.default_rng(0).random((400, 1, 4, 4)).astype(np.float32) + 1
    out = T.RandomCrop(4, padding=1, generator=np.random.default_rng(1))(x)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = {_window_offsets(out[i], padded[i])[0] for i in range(len(x))}
    assert offsets == {(t, s) for t in range(3) for s in range(3)}
    identity = T.RandomCrop(4)(x[0])
    np.testing.assert_array_equal(identity, x[0])
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(7, padding=1)(x[0])
    with pytest.raises(ValueError, match="padding"):
        T.RandomCrop(3, padding=-1)
    with pytest.raises(ValueError, match="size"):
        T.RandomCrop(0)


def test_random_horizontal_flip():
    x = np.random.default_rng(0).random((2000, 1, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    out = T.RandomHorizontalFlip(p=0.5, generator=np.random.default_rng(2))(x)
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept)
    assert abs(flipped.mean() - 0.5) < 4 * np.sqrt(0.25 / len(x))  # binomial, 4 sigma
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        T.RandomHorizontalFlip(p=1.5)


def test_random_transforms_follow_manual_seed_and_keep_tensor_type():
    x = Tensor(np.random.default_rng(0).random((8, 1, 6, 6)).astype(np.float32))
    aug = T.Compose([T.RandomCrop(6, padding=2), T.RandomHorizontalFlip()])
    assert aug.batched
    tgrandom.manual_seed(0)
    a = aug(x)
    tgrandom.manual_seed(0)
    b = aug(x)
    assert isinstance(a, Tensor)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, aug(x).data)


def test_non_batched_transform_is_applied_image_by_image():
    seen = []

    def record(image):
        seen.append(image.shape)
        return image * 2

    ds = ImageDataset(
        np.ones((5, 1, 2, 2), np.uint8), np.arange(5), transform=T.Compose([T.Lambda(record)]), pixel_max=4
    )
    ((x, y),) = [next(iter(DataLoader(ds, batch_size=5)))]
    assert seen == [(1, 2, 2)] * 5
    np.testing.assert_allclose(x.data, 0.5)
    assert y.tolist() == [0, 1, 2, 3, 4]


def test_to_tensor_converts_pictures():
    picture = np.array([[[0, 255, 51]] * 2] * 3, dtype=np.uint8)  # (H=3, W=2, C=3)
    t = T.ToTensor()(picture)
    assert isinstance(t, Tensor) and t.shape == (3, 3, 2) and t.dtype == np.float32
    np.testing.assert_allclose(t.data[:, 0, 0], [0.0, 1.0, 0.2])
    assert T.ToTensor()(np.zeros((4, 5), np.uint8)).shape == (1, 4, 5)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        T.ToTensor()(np.zeros(3))
