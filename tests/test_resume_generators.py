"""fit() resumes exactly also when a transform or a loader draws from its own generator."""

import random

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F
from tinygraph import nn, optim
from tinygraph.data import DataLoader, ImageDataset
from tinygraph.data.transforms import Compose, RandomCrop, RandomHorizontalFlip


def _setup(crop_seed=7, flip_seed=3):
    tg.manual_seed(0)
    rng = np.random.default_rng(1)
    images = rng.random((24, 1, 8, 8)).astype(np.float32)
    labels = (images.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    transform = Compose(
        [
            RandomCrop(8, padding=1, generator=np.random.default_rng(crop_seed)),
            RandomHorizontalFlip(generator=np.random.default_rng(flip_seed)),
        ]
    )
    data = ImageDataset(images, labels, transform=transform)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    return model, opt, DataLoader(data, batch_size=8, shuffle=True, seed=5)


def test_resume_equals_the_uninterrupted_run_with_transform_generators(tmp_path):
    model_a, opt_a, train_a = _setup()
    straight = tg.fit(model_a, train_a, F.cross_entropy, opt_a, epochs=3)

    path = tmp_path / "run.npz"
    model_b, opt_b, train_b = _setup()
    tg.fit(model_b, train_b, F.cross_entropy, opt_b, epochs=1, checkpoint_path=path)
    model_c, opt_c, train_c = _setup()  # a new process: every generator starts from its seed again
    resumed = tg.fit(model_c, train_c, F.cross_entropy, opt_c, epochs=3, checkpoint_path=path, resume=True)

    assert resumed.step_loss == straight.step_loss
    for (name, a), (_, c) in zip(model_a.state_dict().items(), model_c.state_dict().items()):
        np.testing.assert_array_equal(a.data, c.data, err_msg=name)


def test_a_checkpoint_without_a_generators_state_refuses_to_resume_naming_it(tmp_path):
    path = tmp_path / "run.npz"
    model, opt, train = _setup()
    tg.fit(model, train, F.cross_entropy, opt, epochs=1, checkpoint_path=path)
    state = tg.load(path)
    del state["generators"]["train_loader.dataset.transform.transforms[0].generator"]
    tg.save(state, path)  # as an older tinygraph wrote it, without that generator
    model, opt, train = _setup()
    with pytest.raises(ValueError, match=r"generator at train_loader\.dataset\.transform\.transforms\[0\]\.generator"):
        tg.fit(model, train, F.cross_entropy, opt, epochs=2, checkpoint_path=path, resume=True)


def test_a_generator_in_a_lambda_transforms_closure_is_found_and_restored(tmp_path):
    from tinygraph.data.transforms import Lambda

    def setup():
        model, opt, loader = _setup()
        noise = np.random.default_rng(11)
        loader.dataset.transform = Lambda(lambda x: x + noise.normal(0, 0.1, x.shape).astype(np.float32), True)
        return model, opt, loader

    model_a, opt_a, train_a = setup()
    straight = tg.fit(model_a, train_a, F.cross_entropy, opt_a, epochs=2)
    path = tmp_path / "run.npz"
    model_b, opt_b, train_b = setup()
    tg.fit(model_b, train_b, F.cross_entropy, opt_b, epochs=1, checkpoint_path=path)
    assert "train_loader.dataset.transform.fn.<closure noise>" in tg.load(path)["generators"]
    model_c, opt_c, train_c = setup()
    resumed = tg.fit(model_c, train_c, F.cross_entropy, opt_c, epochs=2, checkpoint_path=path, resume=True)
    assert resumed.step_loss == straight.step_loss


def test_find_generators_names_each_one_once_and_skips_the_global_one():
    from tinygraph.generators import find_generators

    shared = np.random.default_rng(0)
    holder = type("Holder", (), {})()
    holder.a, holder.b, holder.c = shared, [shared, random.Random(1)], tg.random.default_generator()
    found = find_generators({"x": holder})
    assert list(found) == ["x.a", "x.b[1]"]


@pytest.mark.parametrize(
    "make", [lambda: np.random.default_rng(3), lambda: np.random.RandomState(3), lambda: random.Random(3)]
)
def test_generator_states_round_trip_through_a_checkpoint(tmp_path, make):
    from tinygraph.generators import generator_state, set_generator_state

    g = make()
    state = generator_state(g)
    tg.save({"g": state}, tmp_path / "g.npz")
    expected = [g.random() for _ in range(3)]
    fresh = make()
    fresh.random()  # somewhere else in its stream
    set_generator_state(fresh, tg.load(tmp_path / "g.npz")["g"], "g")
    assert [fresh.random() for _ in range(3)] == expected
