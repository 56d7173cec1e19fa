"""KernelExplorer: .output equals PyTorch's conv2d for every setting, drawing follows the controls, bad input -> one line."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from widget_helpers import png_array

from course_utils import KERNEL_NAMES, get_kernel, sample_image
from course_utils.errors import CourseError
from course_utils.widgets import KernelExplorer
from course_utils.widgets.kernel_explorer import convolve
from course_utils.widgets.kernel_figure import FIG_W
from course_utils.widgets.kernel_grid import parse_entry, recentre


def reference(image, kernel, *, stride, padding, padding_mode, dilation, mode):
    """PyTorch's own layers: F.conv2d's padding= for zeros, nn.Conv2d(padding_mode='reflect') for reflect."""
    c = image.shape[0]
    k = torch.flip(kernel, (0, 1)) if mode == "convolution" else kernel
    weight = k[None, None].repeat(c, 1, 1, 1)
    if padding_mode == "zeros":
        return F.conv2d(image[None], weight, stride=stride, padding=padding, dilation=dilation, groups=c)[0]
    layer = nn.Conv2d(
        c,
        c,
        tuple(k.shape),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=c,
        bias=False,
        padding_mode="reflect",
    )
    with torch.no_grad():
        layer.weight.copy_(weight)
        return layer(image[None])[0]


def test_default_is_grey_photo_with_sobel_x():
    ex = KernelExplorer()
    assert ex.message == ""
    assert ex.image.shape[0] == 1 and min(ex.image.shape[1:]) == 128
    ref = reference(
        ex.image, get_kernel("sobel_x"), stride=1, padding=0, padding_mode="zeros", dilation=1, mode="correlation"
    )
    torch.testing.assert_close(ex.output, ref)
    assert ex.figure.ax_out.get_title().startswith("output (1, ")
    assert ex.figure.im_in.get_array().shape[:2] == tuple(ex.image.shape[1:])
    assert (ex.figure.values["in"] == ex.image[0].numpy()).all()
    controls = [ex.preset, ex.stride, ex.padding, ex.dilation, ex.channel]
    assert len({id(w.layout) for w in controls}) == len(controls)  # hiding the channel picker hides nothing else
    assert ex.channel.layout.display == "none" and all(w.layout.display != "none" for w in controls[:-1])


def random_settings(rng, trial):
    if rng.random() < 0.5:
        kernel = rng.choice(KERNEL_NAMES)
        k = get_kernel(kernel)
    else:
        n = rng.choice([1, 2, 3, 5])
        kernel = k = torch.randn(n, rng.choice([n, 3]), generator=torch.Generator().manual_seed(trial))
    settings = dict(
        stride=rng.randint(1, 3),
        padding=rng.randint(0, 3),
        padding_mode=rng.choice(["zeros", "reflect"]),
        dilation=rng.randint(1, 3),
        mode=rng.choice(["correlation", "convolution"]),
    )
    return kernel, k, settings


def test_convolve_matches_pytorch_over_many_settings():
    rng = random.Random(1)
    images = [torch.rand(1, 9, 11), torch.rand(3, 12, 10), sample_image(size=17, grey=True), torch.rand(1, 3, 4)]
    refused = 0
    for trial in range(200):
        image = images[trial % 4]
        _, k, settings = random_settings(rng, trial)
        try:
            expected = reference(image, k, **settings)
        except RuntimeError:  # PyTorch refuses these settings: the explorer must refuse them too, with a CourseError
            with pytest.raises(CourseError):
                convolve(image, k, **settings)
            refused += 1
            continue
        torch.testing.assert_close(convolve(image, k, **settings), expected, msg=f"{trial}: {settings}")
    assert 0 < refused < 70


def test_widget_output_matches_conv2d_over_random_settings():
    rng = random.Random(0)
    grey = sample_image(size=24, grey=True)
    rgb = sample_image(size=20)
    for trial in range(16):
        image = rgb if trial % 2 else grey
        kernel, k, settings = random_settings(rng, trial)
        ex = KernelExplorer(image, kernel, **settings)
        assert ex.message == "", ex.message
        torch.testing.assert_close(ex.output, reference(image, k, **settings), msg=f"trial {trial}: {settings}")
        assert ex.output.shape[0] == image.shape[0]
        ex.close()


def test_true_convolution_flips_the_kernel():
    # a single bright pixel: correlation writes the kernel rotated by 180 degrees, true convolution writes it as is
    image = torch.zeros(1, 5, 5)
    image[0, 2, 2] = 1.0
    k = torch.arange(9.0).reshape(3, 3)
    conv = KernelExplorer(image, k, mode="convolution")
    corr = KernelExplorer(image, k, mode="correlation")
    torch.testing.assert_close(conv.output[0], k)
    torch.testing.assert_close(corr.output[0], torch.flip(k, (0, 1)))


def test_control_changes_keep_output_equal_to_conv2d():
    image = sample_image(size=32)  # RGB: depthwise, one kernel per channel
    ex = KernelExplorer(image, "gaussian")
    steps = [
        ("stride", 2),
        ("padding", 2),
        ("padding_mode", "reflect"),
        ("dilation", 2),
        ("mode", "convolution"),
        ("preset", "emboss"),
        ("stride", 1),
        ("padding_mode", "zeros"),
        ("preset", "sharpen"),
        ("dilation", 1),
    ]
    for name, value in steps:
        getattr(ex, name).value = value
        k = get_kernel(ex.preset.value)
        torch.testing.assert_close(ex.output, reference(image, k, **ex.settings()), msg=f"after {name}={value}")


def test_custom_kernel_editor_3x3_and_5x5():
    image = sample_image(size=20, grey=True)
    ex = KernelExplorer(image, "identity")
    ex.size.value = "5x5"
    assert len(ex.grid.children) == 25
    centred = torch.zeros(5, 5)
    centred[2, 2] = 1  # 3x3 -> 5x5: the old kernel in the middle, a ring of zeros around it
    torch.testing.assert_close(ex.kernel, centred)
    assert [[float(t.value) for t in row] for row in ex.grid_texts] == centred.tolist()
    torch.testing.assert_close(ex.output, reference(image, centred, **ex.settings()))
    ex.grid_texts[0][4].value = "2.5"
    assert ex.preset.value == "custom"
    expected = centred.clone()
    expected[0, 4] = 2.5
    torch.testing.assert_close(ex.kernel, expected)
    torch.testing.assert_close(ex.output, reference(image, expected, **ex.settings()))
    assert ex.figure.ax_k.get_title().startswith("kernel 5x5")
    ex.size.value = "3x3"  # 5x5 -> 3x3 keeps the centre (the 2.5 in the corner falls off)
    assert len(ex.grid.children) == 9
    torch.testing.assert_close(ex.kernel, get_kernel("identity"))
    # A 2-D tensor kernel fills the grid and switches it to 5x5.
    k5 = torch.arange(25.0).reshape(5, 5) / 25
    ex2 = KernelExplorer(image, k5)
    assert ex2.size.value == "5x5" and ex2.preset.value == "custom"
    assert float(ex2.grid_texts[4][4].value) == pytest.approx(24 / 25)


def test_3x3_to_5x5_keeps_a_preset_centred_and_its_output():
    """Zero-padding the kernel by one ring keeps every output pixel; only the output shrinks by one at each border."""
    image = sample_image(size=24, grey=True)
    ex = KernelExplorer(image, "sobel_x", padding=1)
    before = ex.output.clone()
    ex.size.value = "5x5"
    torch.testing.assert_close(ex.kernel[1:4, 1:4], get_kernel("sobel_x"))
    assert float(ex.kernel.abs().sum()) == float(get_kernel("sobel_x").abs().sum())
    torch.testing.assert_close(ex.output, before[:, 1:-1, 1:-1])


def test_position_moves_patch_cell_and_arithmetic(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "live")  # live: every update re-renders the Image widget
    image = sample_image(size=16, grey=True)
    ex = KernelExplorer(image, "sobel_x", stride=2, padding=1, dilation=2)
    wo = ex.output.shape[2]
    before = png_array(ex._image.value)
    ex.position.value = 2 * wo + 3
    assert ex.cell_at() == (2, 3)
    assert ex.patch_box() == (4, 6, 5, 5)  # top = 2*stride, left = 3*stride, span = dilation*(3-1)+1
    for frame, (top, left, h, w) in ((ex.figure.cell, (2, 3, 1, 1)), (ex.figure.patch, (4, 6, 5, 5))):
        x, y = frame.get_xy()  # a frame just outside the pixels it marks, centred on them
        assert x + frame.get_width() / 2 == pytest.approx(left - 0.5 + w / 2)
        assert y + frame.get_height() / 2 == pytest.approx(top - 0.5 + h / 2)
        assert 0 < (frame.get_width() - w) / 2 < 1.5 and frame.get_height() - h == pytest.approx(frame.get_width() - w)
    assert ex.arithmetic_total == pytest.approx(float(ex.output[0, 2, 3]), abs=1e-5)
    assert ex.arith.value.startswith("<code>out[2, 3] =") and ex.arith.value.count("×") == 9
    after = png_array(ex._image.value)
    assert after.shape == before.shape and not (after == before).all(), "the drawn picture did not change"
    assert (png_array(ex.png()) == after).all()
    assert ex.position.max == ex.output.shape[1] * wo - 1 == ex.play.max


def test_rgb_channel_picker_shows_that_channel():
    image = sample_image(size=20)
    ex = KernelExplorer(image, "laplacian")
    ex.channel.value = "B"
    assert (ex.figure.values["out"] == ex.output[2].numpy()).all()
    shown = ex.figure.im_out.get_array()[..., 0].astype(float)  # the grey levels drawn: the channel, scaled to 0-255
    out = ex.output[2].numpy()
    assert abs(shown - (out - out.min()) / (out.max() - out.min()) * 255).max() <= 0.5 + 1e-3
    assert "channel B" in ex.figure.ax_out.get_title()
    r, c = ex.cell_at()
    assert ex.arithmetic_total == pytest.approx(float(ex.output[2, r, c]), abs=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(image=torch.rand(4, 4), kernel=torch.ones(7, 7)), "kernel spans 7x7"),
        (dict(image=torch.rand(6, 6), kernel="sobel_x", dilation=3), "padded image is only 6x6"),
        (dict(image=torch.zeros(1, 0, 5)), "image is empty"),
        (dict(image=torch.rand(5, 5, 5, 5)), "give (H, W)"),
        (dict(kernel="no_such_kernel"), "no kernel called"),
        (dict(image=torch.rand(3, 3), padding=3, padding_mode="reflect"), "Reflect padding"),
    ],
)
def test_bad_input_gives_one_line_message(kwargs, fragment):
    ex = KernelExplorer(**kwargs)
    assert fragment in ex.message and "\n" not in ex.message
    assert ex.output is None
    assert fragment.split()[0] in ex.msg.value
    assert ex.figure.message.get_text() == ex.message
    assert ex._repr_mimebundle_()["image/png"]  # the fallback still renders


def test_non_numeric_entry_keeps_the_last_kernel_then_fix(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(torch.rand(10, 10), "identity")
    before, shown = ex.output.clone(), ex._image.value
    ex.grid_texts[1][2].value = "abc"
    assert "'abc'" in ex.message and "row 2, column 3" in ex.message and "1/9" in ex.message and "\n" not in ex.message
    assert "abc" in ex.msg.value
    torch.testing.assert_close(ex.output, before)  # the figure is not blanked: the last kernel stays
    assert ex.figure.message.get_text() == "" and ex._image.value == shown
    torch.testing.assert_close(ex.kernel, get_kernel("identity"))
    ex.grid_texts[1][2].value = "0.5"
    assert ex.message == "" and ex.msg.value == "" and ex.output is not None
    assert float(ex.kernel[1, 2]) == 0.5


@pytest.mark.parametrize("partial", ["-", "", " ", ".", "-.", "1/", "1e", "1e-", "+"])
def test_a_partial_entry_is_ignored_until_it_parses(monkeypatch, partial):
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(sample_image(size=16, grey=True), "sobel_x")
    before, shown = ex.output.clone(), ex._image.value
    ex.grid_texts[0][0].value = partial
    assert ex.message == "" and ex.msg.value == "" and ex.figure.message.get_text() == ""
    torch.testing.assert_close(ex.output, before)
    torch.testing.assert_close(ex.kernel, get_kernel("sobel_x"))
    assert ex._image.value == shown and ex.preset.value == "sobel_x"
    ex.grid_texts[0][0].value = "-3"  # the entry completes: now it counts
    assert float(ex.kernel[0, 0]) == -3 and ex.preset.value == "custom"


def test_a_fraction_is_accepted():
    image = sample_image(size=16, grey=True)
    ex = KernelExplorer(image, "identity")
    for r in range(3):
        for c in range(3):
            ex.grid_texts[r][c].value = "1/9"
    assert ex.message == ""
    torch.testing.assert_close(ex.kernel, torch.full((3, 3), 1 / 9))
    torch.testing.assert_close(ex.output, reference(image, get_kernel("box_blur"), **ex.settings()))
    ex.grid_texts[0][0].value = "1/0"
    assert "divides by zero" in ex.message and ex.output is not None


@pytest.mark.parametrize(
    "entry, value",
    [
        ("1/9", 1 / 9),
        ("-2/16", -0.125),
        (" 0.25 ", 0.25),
        ("-1", -1.0),
        ("2e-1", 0.2),
        ("+3", 3.0),
        (".5", 0.5),
        ("1/ 4", 0.25),
    ],
)
def test_parse_entry_numbers_and_fractions(entry, value):
    assert parse_entry(entry) == pytest.approx(value)


@pytest.mark.parametrize("entry", ["abc", "1/0", "inf", "nan", "1/2/3", "1..2", "--1", "0,5", "1e400"])
def test_parse_entry_refuses_garbage(entry):
    with pytest.raises(ValueError):
        parse_entry(entry)


def test_recentre_pads_and_crops_around_the_centre():
    k = torch.arange(9.0).reshape(3, 3)
    big = recentre(k, 5)
    assert big.shape == (5, 5) and float(big.sum()) == float(k.sum())
    torch.testing.assert_close(big[1:4, 1:4], k)
    torch.testing.assert_close(recentre(big, 3), k)
    torch.testing.assert_close(recentre(torch.ones(1, 1), 3), get_kernel("identity"))


def test_bad_padding_control_then_recover():
    ex = KernelExplorer(torch.rand(3, 3), "identity")
    ex.padding_mode.value = "reflect"
    ex.padding.value = 3
    assert "Reflect padding" in ex.message
    ex.padding.value = 1
    assert ex.message == ""
    torch.testing.assert_close(ex.output, reference(ex.image, get_kernel("identity"), **ex.settings()))


def test_pil_and_hwc_inputs():
    from PIL import Image

    arr = (sample_image(size=12).permute(1, 2, 0).numpy() * 255).astype("uint8")
    for img in (Image.fromarray(arr), arr.astype("float32") / 255):
        ex = KernelExplorer(img, "box_blur")
        assert ex.message == "" and ex.output.shape[0] == 3


def test_layered_redraw_equals_a_full_redraw(monkeypatch):
    """Partial updates (only the changed groups re-drawn over cached pixels) give exactly the picture of a full re-draw."""
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(sample_image(size=40), "sobel_x")
    steps = [
        ("preset", "emboss"),
        ("mode", "convolution"),
        ("channel", "G"),
        ("position", 100),
        ("stride", 2),
        ("preset", "laplacian"),
        ("position", 50),
        ("padding_mode", "reflect"),
        ("padding", 2),
        ("stride", 3),
        ("mode", "correlation"),
        ("size", "5x5"),
        ("grid", "-2.5"),
        ("dilation", 2),
        ("preset", "gaussian"),
        ("grid", "abc"),
        ("grid", "1"),
        ("padding", 0),
        ("stride", 1),
        ("channel", "B"),
    ]
    for name, value in steps:
        if name == "grid":
            ex.grid_texts[0][4].value = value
        else:
            getattr(ex, name).value = value
        shown = png_array(ex._image.value)
        ex.figure.compositor.reset()  # force a full re-draw
        assert (png_array(ex.png()) == shown).all(), f"after {name}={value}"


def test_an_update_redraws_only_what_changed(monkeypatch):
    """A position move re-draws no group; a stride change only the output panel; nothing re-draws the whole figure."""
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(sample_image(size=(64, 64)), "sobel_x")
    drawn = []
    original = ex.fig.draw_artist
    monkeypatch.setattr(ex.fig, "draw_artist", lambda artist: (drawn.append(artist), original(artist)))
    full = []
    canvas_draw = ex.fig.canvas.draw
    monkeypatch.setattr(ex.fig.canvas, "draw", lambda: (full.append(1), canvas_draw()))
    overlay = {ex.figure.patch, ex.figure.cell, *ex.figure.guides}
    ex.position.value = 10
    assert set(drawn) == overlay
    drawn.clear()
    ex.stride.value = 2  # the output panel shrinks to half: its picture, frame and title
    assert set(drawn) == {ex.figure.im_out, ex.figure.ax_out.title, *ex.figure.ax_out.spines.values()} | overlay
    drawn.clear()
    ex.preset.value = "gaussian"  # same size: the kernel picture and numbers, the output; no title
    assert ex.figure.ax_k.title not in drawn and ex.figure.ax_out.title not in drawn and ex.figure.im_in not in drawn
    assert ex.figure.im_k in drawn and ex.figure.im_out in drawn and sum(t in drawn for t in ex.figure.k_texts) == 9
    assert not full, "a control change re-drew the whole figure"


def test_window_keeps_its_place_when_the_stride_changes():
    ex = KernelExplorer(sample_image(size=(64, 64), grey=True), "box_blur")
    ex.position.value = ex.output.shape[2] * 20 + 30  # row 20, column 30: patch from input pixel (20, 30)
    ex.stride.value = 2
    assert ex.cell_at() == (10, 15) and ex.patch_box()[:2] == (20, 30)
    assert ex.position.max == ex.output.shape[1] * ex.output.shape[2] - 1
    ex.padding.value = 2
    top, left = ex.patch_box()[:2]
    assert abs(top - 2 - 20) <= 1 and abs(left - 2 - 30) <= 1  # the same input pixels, as near as stride 2 allows


def axes_pixels(ax):
    """(width, height) of an axes box in figure pixels."""
    box = ax.get_window_extent()
    return box.width, box.height


def test_output_panel_is_drawn_at_the_input_scale():
    """One output cell is as large as one input pixel: stride 2 draws the output half as wide and high."""
    ex = KernelExplorer(sample_image(size=(64, 64), grey=True), "box_blur", padding=1)
    ex.png()
    w_in, h_in = axes_pixels(ex.figure.ax_in)  # (66, 66) padded input
    w_out, h_out = axes_pixels(ex.figure.ax_out)  # (64, 64)
    assert w_out / w_in == pytest.approx(64 / 66, abs=0.01) and h_out / h_in == pytest.approx(64 / 66, abs=0.01)
    ex.stride.value = 2  # (32, 32)
    ex.png()
    w2, h2 = axes_pixels(ex.figure.ax_out)
    assert w2 / w_in == pytest.approx(32 / 66, abs=0.01) and h2 / h_in == pytest.approx(32 / 66, abs=0.01)
    assert axes_pixels(ex.figure.ax_in) == (w_in, h_in)  # the input keeps its size


def test_convolution_mode_shows_the_flipped_numbers_it_uses():
    k = torch.arange(9.0).reshape(3, 3) - 4
    ex = KernelExplorer(sample_image(size=16, grey=True), k)
    shown = [t.get_text() for t in ex.figure.k_texts[:9]]
    assert shown == [str(int(v)) for v in k.flatten()]
    ex.mode.value = "convolution"
    shown = [t.get_text() for t in ex.figure.k_texts[:9]]
    assert shown == [str(int(v)) for v in torch.flip(k, (0, 1)).flatten()]  # 4, 3, 2, ... : what multiplies the window
    assert (ex.figure.values["k"] == torch.flip(k, (0, 1)).numpy()).all()
    assert tuple(ex.figure.im_k.get_array()[0, 0, :3]) == tuple(ex.figure._cmap(1.0, bytes=True)[:3])  # 4: deepest red
    assert ex.figure.ax_k.get_title() == "kernel 3x3, flipped"
    assert ex.arith.value.split("=")[1].strip().startswith("(4)×")  # the sum uses the same numbers
    torch.testing.assert_close(ex.kernel, k)  # the kernel as entered is unchanged


def test_position_reads_as_row_and_column():
    ex = KernelExplorer(sample_image(size=16, grey=True), "sobel_x")
    assert ex.position.readout is False  # a bare index (row * width + column) would read as nonsense
    ex.position.value = 3 * ex.output.shape[2] + 5
    assert "(row, column) = (3, 5)" in ex.where.value
    assert f"of {ex.output.shape[1]} x {ex.output.shape[2]}" in ex.where.value


def test_marker_and_kernel_numbers_are_readable_at_128(monkeypatch):
    """At 128x128 the window's red frame spans >= 8 screen pixels and the 5x5 numbers are drawn at >= 10 px."""
    import numpy as np

    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(sample_image(size=(128, 128), grey=True), "sobel_x")
    assert FIG_W <= 780  # fits the ~800 px output area of a 900 px notebook column
    picture = png_array(ex._image.value).astype(int)
    x0, y0, x1, y1 = (int(v) for v in ex.figure.ax_in.get_window_extent().extents)
    height = picture.shape[0]
    panel = picture[height - y1 : height - y0, x0:x1]
    red = (panel[..., 0] > 200) & (panel[..., 1] < 90) & (panel[..., 2] < 90)
    rows, cols = np.nonzero(red)
    assert red.sum() > 30 and cols.max() - cols.min() >= 8 and rows.max() - rows.min() >= 8
    ex.size.value = "5x5"
    for r in range(5):
        ex.grid_texts[r][0].value = "-1/9"
    sizes = {t.get_fontsize() for t in ex.figure.k_texts if t.get_visible()}
    assert len([t for t in ex.figure.k_texts if t.get_visible()]) == 25 and min(sizes) >= 10
    assert {t.get_text() for t in ex.figure.k_texts if t.get_visible()} == {"-0.11", "-1", "-2", "0", "1", "2"}


def test_controls_wrap_below_the_figure_in_a_narrow_column():
    ex = KernelExplorer()
    body = ex.view.children[1]
    assert ex._image in body.children and body.layout.flex_flow == "row wrap"
    assert ex._image.layout.max_width == "100%"
