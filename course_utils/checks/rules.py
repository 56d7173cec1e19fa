"""The forbidden-route rules chapters share: convolution, convolution layers, pooling and normalisation.

Each is a :class:`~course_utils.checks.forbid.Forbid`; a chapter may combine them
(``NO_CONV | NO_POOLING``) or define its own in a check cell and the same one in its
verification spec.
"""

from __future__ import annotations

from .forbid import Forbid

__all__ = ["NO_CONV", "NO_CONV_LAYER", "NO_NORM", "NO_POOLING"]

NO_CONV = Forbid(
    calls=(
        "conv1d",
        "conv2d",
        "conv3d",
        "convolution",
        "_convolution",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
        "LazyConv1d",
        "LazyConv2d",
        "LazyConv3d",
        "conv_tbc",
        "cudnn_convolution",
        "mkldnn_convolution",
    ),
    aten=(
        "convolution",
        "_convolution",
        "convolution_overrideable",
        "cudnn_convolution",
        "mkldnn_convolution",
        "miopen_convolution",
        "_slow_conv2d_forward",
        "slow_conv_dilated2d",
        "slow_conv3d_forward",
        "_nnpack_spatial_convolution",
        "conv2d",
        "conv1d",
        "conv3d",
        "conv_transpose2d",
        "conv_tbc",
    ),
    reason="the point of this exercise is to compute the convolution yourself",
)
"""Convolution by any PyTorch route: functional, module, ``torch.convolution``, ``torch.ops.aten``."""

NO_CONV_LAYER = Forbid(
    calls=("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "LazyConv2d"),
    reason="the point of this exercise is to work the number out from the shapes, without building the layer",
)
"""Building a convolution layer (source rule only: building one runs no telling operation)."""

NO_POOLING = Forbid(
    calls=(
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool2d_with_indices",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "_adaptive_avg_pool2d",
        "lp_pool1d",
        "lp_pool2d",
        "fractional_max_pool2d",
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "AdaptiveMaxPool2d",
        "AdaptiveAvgPool2d",
        "LPPool1d",
        "LPPool2d",
        "FractionalMaxPool2d",
    ),
    aten=(
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "mkldnn_max_pool2d",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "_adaptive_avg_pool2d",
        "_adaptive_avg_pool3d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "fractional_max_pool2d",
    ),
    reason="the point of this exercise is to compute the pooling yourself",
)
"""Pooling by any PyTorch route (max, average, adaptive, LP, fractional; functional or module)."""

NO_NORM = Forbid(
    calls=(
        "batch_norm",
        "instance_norm",
        "layer_norm",
        "group_norm",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "LayerNorm",
        "GroupNorm",
    ),
    aten=(
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit_functional",
        "cudnn_batch_norm",
        "miopen_batch_norm",
        "batch_norm",
        "native_layer_norm",
        "native_group_norm",
        "instance_norm",
    ),
    reason="the point of this exercise is to compute the normalisation yourself",
)
"""Normalisation layers by any PyTorch route (batch, instance, layer and group norm)."""
