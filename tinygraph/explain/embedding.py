"""What the network's features look like as points: features, PCA, t-SNE, nearest neighbours.

A layer's output, flattened, is a point per image.  Images the network treats alike are close
together; PCA and t-SNE draw the points in 2-D so the clusters can be seen, and nearest
neighbours in feature space show which images the network confuses or groups.  All NumPy.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ._common import LayerOutput, batches, check_images, check_model, explaining, find_layer, forward_no_grad, host

__all__ = ["features", "pca", "tsne", "nearest_neighbors"]


def features(model, layer, loader, batch_size: int = 256, return_labels: bool = False):
    """Flattened outputs of ``layer`` for every image: ``(N, D)`` float64.

    Args:
        model: a ``tg.nn.Module``.
        layer: a submodule of ``model`` or its dotted name.
        loader: an iterable of ``(x, y)`` (or bare ``x``) batches, e.g. a ``tg.data.DataLoader``;
            or one array/Tensor of images ``(N, C, H, W)``, run ``batch_size`` at a time.
        return_labels: also return the labels the loader yielded, ``(N,)`` (None for bare batches).

    Runs in eval mode without recording a graph.
    """
    fn = "features"
    check_model(model, fn)
    name, module = find_layer(model, layer, fn)
    if isinstance(loader, (Tensor, np.ndarray)):
        data = check_images(loader, fn, "loader")
        loader = (data[part] for part in batches(len(data), batch_size))
    chunks, labels = [], []
    with explaining(model):
        for batch in loader:
            x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
            x = check_images(x, fn, "a batch of loader")
            with LayerOutput(module, name, fn) as out:
                forward_no_grad(model, x)
            chunks.append(host(out.only().data).reshape(len(x), -1).astype(np.float64))
            if y is not None:
                labels.append(host(y.data if isinstance(y, Tensor) else np.asarray(y)))
    if not chunks:
        raise ValueError(f"{fn}: loader yielded no batches")
    result = np.concatenate(chunks)
    if return_labels:
        return result, (np.concatenate(labels) if len(labels) == len(chunks) else None)
    return result


def _check_features(feats, fn: str, min_rows: int = 1) -> np.ndarray:
    a = host(feats.data) if isinstance(feats, Tensor) else np.asarray(feats)
    if a.ndim != 2 or a.shape[0] < min_rows or a.dtype.kind not in "iuf":
        raise ValueError(f"{fn}: features must be a numeric (N, D) array with N >= {min_rows}, got shape {a.shape}")
    return a.astype(np.float64)


def _check_k(k, fn: str, most: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= most:
        raise ValueError(f"{fn}: k must be an int in 1..{most} ({what}), got {k!r}")
    return int(k)


def pca(features, k: int = 2) -> np.ndarray:
    """Project ``features: (N, D)`` on its ``k`` directions of largest variance: ``(N, k)``.

    The directions are the top eigenvectors of the covariance ``X^T X / (N - 1)`` of the centred
    data ``X``, in order of decreasing variance; each is signed so that its largest-magnitude
    entry is positive (eigenvectors are only defined up to sign).
    """
    fn = "pca"
    x = _check_features(features, fn, min_rows=2)
    k = _check_k(k, fn, x.shape[1], "at most the number of features D")
    centred = x - x.mean(axis=0)
    variances, vectors = np.linalg.eigh(centred.T @ centred / (len(x) - 1))  # ascending
    top = vectors[:, ::-1][:, :k]
    top *= np.sign(top[np.abs(top).argmax(axis=0), np.arange(k)])
    return centred @ top


def _conditional_probabilities(sq_dist: np.ndarray, perplexity: float, tol: float = 1e-5) -> np.ndarray:
    """Row i: ``p(j | i) = exp(-d_ij^2 beta_i) / sum_k exp(-d_ik^2 beta_i)``, ``beta_i`` found by
    bisection so that the row's entropy is ``log(perplexity)`` (its "effective number of neighbours")."""
    n = len(sq_dist)
    p = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        d = np.delete(sq_dist[i], i)
        d = d - d.min()  # shifting all distances leaves p(j|i) unchanged and keeps exp() in range
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(100):
            w = np.exp(-d * beta)
            total = w.sum()
            entropy = np.log(total) + beta * (d * w).sum() / total
            if abs(entropy - target) < tol:
                break
            if entropy > target:  # too flat: sharpen
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / total
    return p


def tsne(
    features,
    k: int = 2,
    perplexity: float = 30.0,
    steps: int = 500,
    lr: float = 200.0,
    exaggeration: float = 12.0,
    seed: int = 0,
    return_kl: bool = False,
):
    """t-SNE (van der Maaten & Hinton 2008): a ``(N, k)`` map where near neighbours stay near.

    Objective: with ``P`` the similarities of the points in feature space (Gaussian, each
    point's width set by ``perplexity``, symmetrised ``p_ij = (p(j|i) + p(i|j)) / 2N``) and
    ``Q`` those of the map points ``y`` (Student-t with one degree of freedom, heavy-tailed so
    that clusters separate)::

        q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1
        KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)
        dKL/dy_i   = 4 sum_j (p_ij - q_ij) (y_i - y_j) (1 + |y_i - y_j|^2)^-1

    Minimised by gradient descent with momentum (0.5, then 0.8) and per-coordinate adaptive
    gains, ``P`` multiplied by ``exaggeration`` for the first quarter of the steps so that
    clusters form early (the paper's "early exaggeration").  Exact, O(N^2) memory: a few
    thousand points.

    Args:
        features: ``(N, D)``.
        k: dimensions of the map (2 to draw it).
        perplexity: about how many neighbours each point keeps close; must be < N.
        steps: gradient steps.
        lr: learning rate.
        seed: seeds the initial map (small Gaussian noise).
        return_kl: also return ``KL(P || Q)`` after every step, ``(steps,)``, with the true P.

    Returns:
        the map ``(N, k)`` (and the KL history).
    """
    fn = "tsne"
    x = _check_features(features, fn, min_rows=3)
    n = len(x)
    k = _check_k(k, fn, n - 1, "at most N - 1")
    if not 1 <= perplexity < n:
        raise ValueError(f"{fn}: perplexity must be in [1, N) = [1, {n}), got {perplexity}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{fn}: steps must be a positive int, got {steps!r}")
    sq = (x * x).sum(axis=1)
    sq_dist = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    p = _conditional_probabilities(sq_dist, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    np.fill_diagonal(p, 0)

    rng = np.random.default_rng(seed)
    y = 1e-4 * rng.standard_normal((n, k))
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    kl = np.empty(int(steps))
    stop_exaggerating = max(1, int(steps) // 4)
    for step in range(int(steps)):
        diff = y[:, None, :] - y[None, :, :]  # (N, N, k)
        w = 1 / (1 + (diff**2).sum(axis=2))  # Student-t kernel
        np.fill_diagonal(w, 0)
        q = np.maximum(w / w.sum(), 1e-12)
        scale = exaggeration if step < stop_exaggerating else 1.0
        grad = 4 * (((scale * p - q) * w)[:, :, None] * diff).sum(axis=1)
        # delta-bar-delta gains: grow a coordinate's step while the gradient keeps its direction
        same_direction = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same_direction, gains * 0.8, gains + 0.2), 0.01)
        momentum = 0.5 if step < stop_exaggerating else 0.8
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y -= y.mean(axis=0)
        off = ~np.eye(n, dtype=bool)
        kl[step] = (p[off] * np.log(p[off] / q[off])).sum()
    return (y, kl) if return_kl else y


def nearest_neighbors(features, query_index: int, k: int = 5) -> np.ndarray:
    """Indices of the ``k`` rows of ``features: (N, D)`` nearest to row ``query_index`` (Euclidean),
    nearest first, the query itself left out; ties keep index order."""
    fn = "nearest_neighbors"
    x = _check_features(features, fn, min_rows=2)
    n = len(x)
    if isinstance(query_index, bool) or not isinstance(query_index, (int, np.integer)) or not -n <= query_index < n:
        raise ValueError(f"{fn}: query_index must be an int in 0..{n - 1}, got {query_index!r}")
    k = _check_k(k, fn, n - 1, "at most N - 1 other rows")
    q = int(query_index) % n
    dist = ((x - x[q]) ** 2).sum(axis=1)
    dist[q] = np.inf
    return np.argsort(dist, kind="stable")[:k]
