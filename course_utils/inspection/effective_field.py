"""The effective receptive field: how much each input pixel actually moves one output unit.

Luo et al., "Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks" (NeurIPS 2016): the gradient of a centre unit with respect to the
input, averaged over random inputs, is roughly Gaussian and covers only a part of
the analytic field that :func:`~course_utils.receptive_field` computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CourseError
from .receptive import make_input

if TYPE_CHECKING:
    import torch
    from torch import nn


def effective_receptive_field(
    model: nn.Module, input_size: int | tuple[int, ...], *, n_inputs: int = 4, reinit: bool = False, seed: int = 0
) -> torch.Tensor:
    """The ``(H, W)`` map of ``|d out[centre] / d input|`` summed over channels, averaged over random inputs.

    ``model`` must return a feature map ``(N, C, h, w)``; the gradient flows from
    all channels of its centre unit. ``reinit=True`` uses a copy of the model
    with freshly initialised weights (as in Luo et al. 2016), otherwise the
    given weights. Runs in eval mode; the model is left unchanged.

    Example:
        >>> backbone = nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2])
        >>> erf = effective_receptive_field(backbone, 96, reinit=True)
        >>> erf.shape
        torch.Size([96, 96])
    """
    import copy

    import torch

    if reinit:
        model = copy.deepcopy(model)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    generator = torch.Generator().manual_seed(seed)
    x0 = make_input(model, input_size)
    modes = {m: m.training for m in model.modules()}
    total = torch.zeros(x0.shape[-2:], device=x0.device)
    try:
        model.eval()
        for _ in range(n_inputs):
            x = torch.randn(x0.shape, generator=generator).to(x0.device).requires_grad_()
            out = model(x)
            if not isinstance(out, torch.Tensor) or out.dim() != 4:
                raise CourseError(
                    "effective_receptive_field needs a model that returns a feature map (N, C, H, W); "
                    "pass its convolutional part, e.g. nn.Sequential(*list(model.children())[:-2])."
                )
            h, w = out.shape[-2] // 2, out.shape[-1] // 2
            (grad,) = torch.autograd.grad(out[0, :, h, w].sum(), x)
            total += grad[0].abs().sum(0)
    finally:
        for m, flag in modes.items():
            m.training = flag
    return (total / n_inputs).detach()
