"""What the viz tests share: the Agg backend, closing figures after each test, and finding images by gid."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Imported into each viz test module, where it closes every figure a test left open."""
    yield
    plt.close("all")


def images_by_gid(fig) -> dict:
    """The figure's images that viz tagged with a gid, by gid."""
    return {im.get_gid(): im for im in fig.findobj(AxesImage) if im.get_gid()}
