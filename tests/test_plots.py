"""course_utils.plots: what is drawn equals the input, the given Axes/Figure is used, no figure leaks."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import transforms  # noqa: E402

from course_utils import (  # noqa: E402
    CourseError,
    History,
    LRFinderResult,
    confusion_counts,
    denormalize,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_images,
    plot_kernels,
    plot_lr_finder,
    plot_training_curves,
)

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@pytest.fixture(autouse=True)
def no_figure_leak():
    """Each test closes what it made; a function that leaves extra figures fails here."""
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    plt.close("all")
    assert not leaked, f"{len(leaked)} figure(s) left open"


def _close(obj):
    plt.close(obj if hasattr(obj, "savefig") else obj.figure)


def test_denormalize_inverts_torchvision_normalize():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 5, 6)
    normalized = transforms.Normalize(MEAN, STD)(x)
    torch.testing.assert_close(denormalize(normalized, MEAN, STD), x)
    torch.testing.assert_close(denormalize(normalized[0], MEAN, STD), x[0])  # (C, H, W) too
    with pytest.raises(CourseError, match="mean has 2 values but the images have 3 channels"):
        denormalize(x, (0.5, 0.5), STD)


def test_image_grid_draws_the_denormalised_images_with_titles():
    torch.manual_seed(0)
    x = torch.rand(5, 3, 8, 8)
    normalized = transforms.Normalize(MEAN, STD)(x)
    fig = plot_images(
        normalized, torch.tensor([0, 1, 2, 1, 0]), mean=MEAN, std=STD, class_names=["cat", "dog", "ship"], ncols=3
    )
    visible = [ax for ax in fig.axes if ax.images]
    assert len(visible) == 5 and len(fig.axes) == 6  # a 2 x 3 grid, the last tile empty
    for i, ax in enumerate(visible):
        np.testing.assert_allclose(ax.images[0].get_array(), x[i].permute(1, 2, 0).numpy(), atol=1e-6)
    assert [ax.get_title() for ax in visible] == ["cat", "dog", "ship", "dog", "cat"]
    _close(fig)


def test_without_denormalisation_the_values_are_clipped_and_grey_uses_one_channel():
    x = torch.tensor([[[[-1.0, 0.25], [0.5, 2.0]]]])  # (1, 1, 2, 2)
    fig = plot_images(x, ["a"])
    drawn = fig.axes[0].images[0]
    np.testing.assert_allclose(drawn.get_array(), [[0.0, 0.25], [0.5, 1.0]])
    assert drawn.get_cmap().name == "gray" and drawn.get_clim() == (0, 1)
    _close(fig)
    fig = plot_images((torch.arange(12, dtype=torch.uint8) * 20).reshape(1, 3, 2, 2))  # uint8: 0 .. 255
    assert fig.axes[0].images[0].get_array().max() == pytest.approx(220 / 255)
    _close(fig)


def test_a_given_figure_is_reused_and_returned():
    fig = plt.figure()
    fig.add_subplot(1, 1, 1).plot([1, 2])
    assert plot_images(torch.rand(2, 3, 4, 4), fig=fig) is fig
    assert len(fig.axes) == 2 and not any(ax.lines for ax in fig.axes)  # the old content is gone
    assert plt.get_fignums() == [fig.number]
    _close(fig)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_images(torch.rand(2, 4, 8, 8)), r"C = 1 or 3, not \(2, 4, 8, 8\)"),
        (lambda: plot_images(torch.rand(2, 3, 8, 8), [0]), "2 images but 1 labels"),
        (lambda: plot_images(torch.rand(2, 3, 8, 8), mean=MEAN), "both mean and std"),
        (lambda: plot_images(torch.rand(1, 3, 8, 8), [5], class_names=["a"]), "Label 5 has no name"),
        (lambda: plot_images("cat.png"), "tensor or an array, not str"),
        (lambda: plot_kernels(torch.rand(2, 3, 3)), r"\(C_out, C_in, k, k\)"),
        (lambda: plot_kernels(torch.rand(2, 2, 3, 3), rgb=True), "3 input channels"),
        (lambda: plot_feature_maps(torch.rand(8, 8)), r"\(N, C, H, W\) or \(C, H, W\)"),
        (lambda: plot_feature_maps(torch.rand(2, 4, 8, 8), index=2), "outside the batch of 2"),
        (lambda: plot_training_curves({"loss": [1, 2]}, ["acc"]), "no column 'acc'"),
        (lambda: plot_training_curves({"train_loss": [1, 2], "val_loss": [1]}), "different lengths"),
        (lambda: plot_training_curves([1.0, 2.0]), "dict of lists or a History"),
        (lambda: plot_confusion_matrix([0, 1], [0]), "2 labels but y_pred has 1"),
        (lambda: plot_confusion_matrix([0, 3], [0, 1], class_names=["a", "b"]), r"0 \.\. 1 for 2 classes"),
        (lambda: plot_confusion_matrix([0.5, 1.0], [0, 1]), "class indices"),
        (lambda: plot_lr_finder([1, 2, 3]), "result of lr_find"),
        (lambda: plot_lr_finder(LRFinderResult([1e-3, 1e-2, 1e-1], [3.0, 2.0, 4.0]), method="median"), "one of"),
    ],
)
def test_bad_input_raises_one_clear_sentence_and_makes_no_figure(call, message):
    with pytest.raises(CourseError, match=message):
        call()
    assert plt.get_fignums() == []


def test_kernel_grid_rgb_tiles_are_rescaled_filters():
    conv = nn.Conv2d(3, 4, 5)
    fig = plot_kernels(conv)
    assert len([ax for ax in fig.axes if ax.images]) == 4
    w = conv.weight.detach()
    for i in range(4):
        expected = (w[i] - w[i].min()) / (w[i].max() - w[i].min())
        np.testing.assert_allclose(fig.axes[i].images[0].get_array(), expected.permute(1, 2, 0).numpy(), atol=1e-6)
    _close(fig)


def test_kernel_grid_pairs_share_a_symmetric_colour_scale():
    torch.manual_seed(0)
    w = torch.randn(2, 3, 3, 3)
    fig = plot_kernels(w, rgb=False)
    tiles = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(tiles) == 6
    vmax = float(w.abs().max())
    for n, tile in enumerate(tiles):
        np.testing.assert_allclose(tile.get_array(), w[n // 3, n % 3].numpy())  # row = output channel
        assert tile.get_clim() == pytest.approx((-vmax, vmax))
    _close(fig)
    fig = plot_kernels(torch.randn(20, 12, 3, 3), max_out=5, max_in=4)  # big layers are cropped
    assert len([ax for ax in fig.axes if ax.images]) == 20 and fig.axes[4].get_subplotspec().rowspan.start == 1
    _close(fig)
    fig = plot_kernels(nn.Conv2d(1, 10, 3))  # one input channel: filters side by side, 8 a row
    assert len(fig.axes) == 16 and fig.axes[8].get_subplotspec().rowspan.start == 1
    _close(fig)
    k = torch.tensor([[1.0, 0.0, -1.0]] * 3)
    fig = plot_kernels(k)  # a single (k, k) kernel
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), k.numpy())
    _close(fig)


def test_feature_maps_one_tile_per_channel_capped():
    maps = torch.randn(2, 10, 6, 6)
    fig = plot_feature_maps(maps, index=1, max_maps=7, ncols=4)
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 7 and len(fig.axes) == 8
    for c, ax in enumerate(tiles):
        np.testing.assert_allclose(ax.images[0].get_array(), maps[1, c].numpy())
        assert ax.get_title() == str(c)
    _close(fig)


def test_training_curves_from_a_dict_and_from_a_history():
    data = {"train_loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6], "val_acc": [0.3, 0.4, 0.5]}
    fig, ax = plt.subplots()
    assert plot_training_curves(data, ax=ax) is ax
    assert [line.get_label() for line in ax.lines] == ["train loss", "val loss"]  # default: the loss columns
    np.testing.assert_allclose(ax.lines[1].get_ydata(), data["val_loss"])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2, 3])
    _close(fig)

    history = History()
    for epoch, (tl, acc) in enumerate([(1.0, 0.5), (0.8, float("nan"))], start=3):
        history.append({"epoch": epoch, "train_loss": tl, "val_acc": acc})
    ax = plot_training_curves(history, "val_acc")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [3, 4])  # the history's own epoch numbers
    assert ax.lines[0].get_ydata()[0] == 0.5 and math.isnan(ax.lines[0].get_ydata()[1])
    _close(ax)

    class KerasLike:
        history = {"loss": [3.0, 2.0]}

    ax = plot_training_curves(KerasLike())
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 2.0])
    _close(ax)


def test_confusion_counts_match_a_counting_loop():
    gen = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 4, (200,), generator=gen)
    logits = torch.randn(200, 4, generator=gen)
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(y_true.tolist(), logits.argmax(1).tolist()):
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion_counts(y_true, logits).numpy(), expected)
    assert confusion_counts([0, 1, 1], [0, 0, 1], num_classes=3).shape == (3, 3)


def test_confusion_matrix_plot_shows_counts_or_row_fractions():
    y_true, y_pred = [0, 0, 0, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    fig, ax = plt.subplots()
    assert plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c", "d"], ax=ax) is ax
    counts = np.array([[1, 2, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(ax.images[0].get_array(), counts)
    assert [t.get_text() for t in ax.texts][:3] == ["1", "2", "0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    _close(fig)
    ax = plot_confusion_matrix(y_true, y_pred, normalize=True)
    fractions = ax.images[0].get_array()
    np.testing.assert_allclose(fractions, [[1 / 3, 2 / 3, 0], [0, 1, 0], [0.5, 0, 0.5]])
    _close(ax)


def test_lr_finder_curve_uses_the_result_and_marks_the_suggestion():
    lrs = [10 ** (-5 + 0.25 * i) for i in range(17)]
    losses = [2.3, 2.3, 2.29, 2.25, 2.1, 1.8, 1.4, 1.1, 0.9, 0.8, 0.75, 0.8, 1.0, 1.6, 2.5, 4.0, 7.0]
    result = LRFinderResult(lrs, losses)
    fig, ax = plt.subplots()
    assert plot_lr_finder(result, method="min/10", ax=ax) is ax
    np.testing.assert_allclose(ax.lines[0].get_xdata(), lrs)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), losses)
    assert ax.get_xscale() == "log"
    marked = [line.get_xdata()[0] for line in ax.lines[1:]]
    assert any(x == pytest.approx(result.suggest("min/10")) for x in marked)
    _close(fig)

    class Plain:  # any object with lrs and losses
        pass

    plain = Plain()
    plain.lrs, plain.losses = lrs, losses
    ax = plot_lr_finder(plain)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), losses)
    _close(ax)


def test_plots_never_call_show(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", forbidden)
    for obj in (
        plot_images(torch.rand(1, 3, 4, 4)),
        plot_kernels(torch.rand(1, 1, 3, 3)),
        plot_feature_maps(torch.rand(2, 4, 4)),
        plot_training_curves({"loss": [1.0]}),
        plot_confusion_matrix([0, 1], [1, 1]),
    ):
        _close(obj)
