"""course_utils.inspection.kernels: the classic kernels behave as their names promise (checked with F.conv2d)."""

import pytest
import torch
import torch.nn.functional as F

from course_utils import KERNEL_NAMES, get_kernel
from course_utils.errors import CourseError


def _apply(kernel, image):
    return F.conv2d(image[None, None], kernel[None, None])[0, 0]


def test_every_kernel_is_a_fresh_3x3_float_tensor():
    for name in KERNEL_NAMES:
        k = get_kernel(name)
        assert k.shape == (3, 3) and k.dtype == torch.float32
        k.zero_()
        assert get_kernel(name).abs().sum() > 0  # the stored kernel was not changed


def test_identity_and_smoothing_kernels():
    image = torch.rand(8, 8)
    assert torch.allclose(_apply(get_kernel("identity"), image), image[1:-1, 1:-1])
    for name in ("box_blur", "gaussian"):
        assert torch.isclose(get_kernel(name).sum(), torch.tensor(1.0))
        flat = torch.full((6, 6), 0.3)
        assert torch.allclose(_apply(get_kernel(name), flat), torch.full((4, 4), 0.3))


@pytest.mark.parametrize("name", ["sobel_x", "sobel_y", "laplacian"])
def test_derivative_kernels_ignore_flat_regions(name):
    flat = torch.full((6, 6), 0.7)
    assert torch.allclose(_apply(get_kernel(name), flat), torch.zeros(4, 4), atol=1e-6)


def test_sobel_directions():
    ramp_right = torch.arange(6.0).repeat(6, 1)  # brighter to the right
    ramp_down = ramp_right.T.contiguous()  # brighter downwards
    assert (_apply(get_kernel("sobel_x"), ramp_right) > 0).all()
    assert torch.allclose(_apply(get_kernel("sobel_x"), ramp_down), torch.zeros(4, 4))
    assert (_apply(get_kernel("sobel_y"), ramp_down) > 0).all()


def test_names_are_forgiving_about_case_and_separators():
    assert torch.equal(get_kernel("Sobel-X"), get_kernel("sobel_x"))
    assert torch.equal(get_kernel("box blur"), get_kernel("box_blur"))


def test_unknown_kernel_lists_the_choices():
    with pytest.raises(CourseError, match="sobel_x"):
        get_kernel("prewitt")
