"""KernelExplorer: .output equals PyTorch's conv2d for every setting, drawing follows the controls, bad input -> one line."""

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import KERNEL_NAMES, get_kernel, sample_image
from course_utils.errors import CourseError
from course_utils.widgets import KernelExplorer
from course_utils.widgets.kernel_explorer import convolve

from widget_helpers import png_array


def reference(image, kernel, *, stride, padding, padding_mode, dilation, mode):
    """PyTorch's own layers: F.conv2d's padding= for zeros, nn.Conv2d(padding_mode='reflect') for reflect."""
    c = image.shape[0]
    k = torch.flip(kernel, (0, 1)) if mode == "convolution" else kernel
    weight = k[None, None].repeat(c, 1, 1, 1)
    if padding_mode == "zeros":
        return F.conv2d(image[None], weight, stride=stride, padding=padding, dilation=dilation, groups=c)[0]
    layer = nn.Conv2d(c, c, tuple(k.shape), stride=stride, padding=padding, dilation=dilation, groups=c,
                      bias=False, padding_mode="reflect")
    with torch.no_grad():
        layer.weight.copy_(weight)
        return layer(image[None])[0]


def test_default_is_grey_photo_with_sobel_x():
    ex = KernelExplorer()
    assert ex.message == ""
    assert ex.image.shape[0] == 1 and min(ex.image.shape[1:]) == 128
    ref = reference(ex.image, get_kernel("sobel_x"), stride=1, padding=0, padding_mode="zeros", dilation=1, mode="correlation")
    torch.testing.assert_close(ex.output, ref)
    assert ex.ax_out.get_title().startswith("output (1, ")
    assert ex.im_in.get_array().shape == tuple(ex.image.shape[1:])
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
    settings = dict(stride=rng.randint(1, 3), padding=rng.randint(0, 3), padding_mode=rng.choice(["zeros", "reflect"]),
                    dilation=rng.randint(1, 3), mode=rng.choice(["correlation", "convolution"]))
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
    steps = [("stride", 2), ("padding", 2), ("padding_mode", "reflect"), ("dilation", 2), ("mode", "convolution"),
             ("preset", "emboss"), ("stride", 1), ("padding_mode", "zeros"), ("preset", "sharpen"), ("dilation", 1)]
    for name, value in steps:
        getattr(ex, name).value = value
        k = get_kernel(ex.preset.value)
        torch.testing.assert_close(ex.output, reference(image, k, **ex.settings()), msg=f"after {name}={value}")


def test_custom_kernel_editor_3x3_and_5x5():
    image = sample_image(size=20, grey=True)
    ex = KernelExplorer(image, "identity")
    ex.size.value = "5x5"
    assert len(ex.grid.children) == 25
    ex.grid_texts[0][4].value = "2.5"
    assert ex.preset.value == "custom"
    expected = torch.zeros(5, 5)
    expected[1, 1] = 1
    expected[0, 4] = 2.5
    torch.testing.assert_close(ex.kernel, expected)
    torch.testing.assert_close(ex.output, reference(image, expected, **ex.settings()))
    assert ex.ax_k.get_title().startswith("kernel 5x5")
    ex.size.value = "3x3"
    assert len(ex.grid.children) == 9 and ex.kernel.shape == (3, 3)
    # A 2-D tensor kernel fills the grid and switches it to 5x5.
    k5 = torch.arange(25.0).reshape(5, 5) / 25
    ex2 = KernelExplorer(image, k5)
    assert ex2.size.value == "5x5" and ex2.preset.value == "custom"
    assert float(ex2.grid_texts[4][4].value) == pytest.approx(24 / 25)


def test_position_moves_patch_cell_and_arithmetic(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "live")  # live: every update re-renders the Image widget
    image = sample_image(size=16, grey=True)
    ex = KernelExplorer(image, "sobel_x", stride=2, padding=1, dilation=2)
    wo = ex.output.shape[2]
    before = png_array(ex._image.value)
    ex.position.value = 2 * wo + 3
    assert ex.cell_at() == (2, 3)
    assert ex.cell.get_xy() == (3 - 0.5, 2 - 0.5)
    assert ex.patch_box() == (4, 6, 5, 5)  # top = 2*stride, left = 3*stride, span = dilation*(3-1)+1
    assert ex.patch.get_xy() == (6 - 0.5, 4 - 0.5) and ex.patch.get_width() == 5
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
    assert (ex.im_out.get_array() == ex.output[2].numpy()).all()
    assert "channel B" in ex.ax_out.get_title()
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
    assert ex.fig_message.get_text() == ex.message
    assert ex._repr_mimebundle_()["image/png"]  # the fallback still renders


def test_non_numeric_entry_then_fix():
    ex = KernelExplorer(torch.rand(10, 10), "identity")
    ex.grid_texts[1][2].value = "abc"
    assert "'abc'" in ex.message and ex.output is None
    ex.grid_texts[1][2].value = "0.5"
    assert ex.message == "" and ex.output is not None
    assert float(ex.kernel[1, 2]) == 0.5


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
    steps = [("preset", "emboss"), ("mode", "convolution"), ("channel", "G"), ("position", 100), ("stride", 2),
             ("preset", "laplacian"), ("position", 50), ("padding_mode", "reflect"), ("padding", 2), ("stride", 3),
             ("mode", "correlation"), ("size", "5x5"), ("grid", "-2.5"), ("dilation", 2), ("preset", "gaussian"),
             ("grid", "abc"), ("grid", "1"), ("padding", 0), ("stride", 1), ("channel", "B")]
    for name, value in steps:
        if name == "grid":
            ex.grid_texts[0][4].value = value
        else:
            getattr(ex, name).value = value
        shown = png_array(ex._image.value)
        ex._compositor.reset()  # force a full re-draw
        assert (png_array(ex.png()) == shown).all(), f"after {name}={value}"


def test_an_update_redraws_only_what_changed(monkeypatch):
    """A position move re-draws no group; a stride change only the output and its title; nothing re-draws the frames."""
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer(sample_image(size=(64, 64)), "sobel_x")  # square: a stride change keeps every axes box
    drawn = []
    original = ex.fig.draw_artist
    monkeypatch.setattr(ex.fig, "draw_artist", lambda artist: (drawn.append(artist), original(artist)))
    full = []
    canvas_draw = ex.fig.canvas.draw
    monkeypatch.setattr(ex.fig.canvas, "draw", lambda: (full.append(1), canvas_draw()))
    ex.position.value = 10
    assert set(drawn) == {ex.patch, ex.cell}
    drawn.clear()
    ex.stride.value = 2
    assert set(drawn) == {ex.im_out, ex.ax_out.title, ex.patch, ex.cell}
    drawn.clear()
    ex.preset.value = "gaussian"  # same size: the kernel picture and numbers, the output; no title
    assert ex.ax_k.title not in drawn and ex.ax_out.title not in drawn and ex.im_in not in drawn
    assert ex.im_k in drawn and ex.im_out in drawn and sum(t in drawn for t in ex.k_texts) == 9
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
