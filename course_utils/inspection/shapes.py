"""Shape tracing for any ``nn.Module`` and the output-size arithmetic of conv, pool and transposed conv.

:func:`trace_shapes` runs one forward pass with hooks on every leaf module and
returns a table of output shapes and parameter counts. When a layer cannot take
the tensor it receives (a ``Linear`` with the wrong ``in_features``, a conv with
the wrong ``in_channels``, a kernel larger than the feature map), it names that
layer and the fix in a :class:`~course_utils.errors.CourseError` instead of a
matmul traceback.

The arithmetic (Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning", 2016) follows PyTorch's documented formulas for ``nn.Conv2d``,
``nn.MaxPool2d`` and ``nn.ConvTranspose2d``, one spatial dimension at a time.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn


def _check_ints(**values: int) -> None:
    for name, value in values.items():
        low = 0 if name in ("p", "output_padding") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise CourseError(f"{name}={value!r} is not valid: use a whole number >= {low}.")


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output length of a convolution along one dimension, as ``nn.Conv2d`` computes it.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1`` for input length ``n``, kernel ``k``,
    stride ``s``, padding ``p`` and dilation ``d``.

    Example:
        >>> conv_output_size(32, k=3, s=2, p=1)  # (N, C, 32, 32) -> (N, C', 16, 16)
        16
    """
    _check_ints(n=n, k=k, s=s, p=p, d=d)
    out = (n + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise CourseError(
            f"A kernel of size {k} (dilation {d}) does not fit an input of length {n} with padding {p}: "
            f"the output would have length {out}; use a larger input, more padding or a smaller kernel."
        )
    return out


def pool_output_size(n: int, k: int, s: int | None = None, p: int = 0, d: int = 1, ceil_mode: bool = False) -> int:
    """Output length of max/avg pooling along one dimension (``stride`` defaults to ``kernel_size``).

    With ``ceil_mode=True`` the division rounds up, but a last window that would
    start inside the right padding is dropped, exactly as ``nn.MaxPool2d`` does.

    Example:
        >>> pool_output_size(7, k=2)                  # (N, C, 7, 7) -> (N, C, 3, 3)
        3
        >>> pool_output_size(7, k=2, ceil_mode=True)  # (N, C, 7, 7) -> (N, C, 4, 4)
        4
    """
    s = k if s is None else s
    _check_ints(n=n, k=k, s=s, p=p, d=d)
    if 2 * p > k:
        raise CourseError(f"Pooling padding {p} is more than half the kernel size {k}: use padding <= {k // 2}.")
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    if out < 1:
        raise CourseError(
            f"A pooling window of size {k} (dilation {d}) does not fit an input of length {n} with padding {p}: "
            "use a larger input or a smaller window."
        )
    return out


def conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0, d: int = 1) -> int:
    """Output length of a transposed convolution: ``(n-1)s - 2p + d(k-1) + output_padding + 1``.

    Example:
        >>> conv_transpose_output_size(16, k=4, s=2, p=1)  # (N, C, 16, 16) -> (N, C', 32, 32)
        32
    """
    _check_ints(n=n, k=k, s=s, p=p, d=d, output_padding=output_padding)
    if output_padding >= max(s, d):
        raise CourseError(
            f"output_padding={output_padding} must be smaller than the stride ({s}) or the dilation ({d})."
        )
    out = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if out < 1:
        raise CourseError(f"The padding {p} removes the whole output (length {out}): use less padding.")
    return out


@dataclass
class ShapeRow:
    """One call of one leaf module: its name, type, shapes and own parameter count."""

    name: str
    type: str
    input_shape: Any
    output_shape: Any
    params: int


class ShapeTable:
    """The result of :func:`trace_shapes`: ``.rows`` (a list of :class:`ShapeRow`) and ``.total_params``."""

    def __init__(self, rows: list[ShapeRow], total_params: int) -> None:
        self.rows = rows
        self.total_params = total_params

    def _cells(self) -> list[tuple[str, str, str, str]]:
        return [(r.name, r.type, _fmt(r.output_shape), f"{r.params:,}") for r in self.rows]

    def __str__(self) -> str:
        head = ("layer", "type", "output shape", "params")
        cells = [head, *self._cells()]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        lines = ["  ".join(c[i].ljust(widths[i]) if i < 3 else c[i].rjust(widths[i]) for i in range(4)) for c in cells]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {self.total_params:,}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        return (
            "<table><thead><tr><th>layer</th><th>type</th><th>output shape</th><th>params</th></tr></thead>"
            f"<tbody>{body}</tbody></table><p>total parameters: {self.total_params:,}</p>"
        )


def _fmt(shape: Any) -> str:
    if isinstance(shape, tuple) and all(isinstance(v, int) for v in shape):
        return str(shape)
    if isinstance(shape, (tuple, list)):
        return "[" + ", ".join(_fmt(s) for s in shape) + "]"
    return str(shape)


def _shape_of(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):
        return tuple(_shape_of(v) for v in value)
    return type(value).__name__


def _check_input(name: str, module: nn.Module, x: torch.Tensor) -> None:
    """Raise a CourseError naming the fix when ``module`` cannot take ``x``."""
    from torch import nn

    shape = tuple(x.shape)
    where = f"Layer '{name}' ({module!r}) received input of shape {shape}"
    if isinstance(module, nn.Linear) and shape and shape[-1] != module.in_features:
        if len(shape) > 2 and math.prod(shape[1:]) == module.in_features:
            raise CourseError(f"{where}: flatten it to (N, {module.in_features}) first, e.g. with nn.Flatten().")
        if len(shape) > 2:
            raise CourseError(f"{where}: flatten it first (nn.Flatten()) and set in_features={math.prod(shape[1:])}.")
        raise CourseError(f"{where} but expects {module.in_features} features: set in_features={shape[-1]}.")
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    if isinstance(module, convs):
        dims = len(module.kernel_size)
        if len(shape) not in (dims + 1, dims + 2):
            raise CourseError(f"{where} but expects a {dims + 2}-D input (N, C, {', '.join('HWD'[:dims])}).")
        channels = shape[-dims - 1]
        if channels != module.in_channels:
            raise CourseError(
                f"{where} but expects {module.in_channels} channels: set in_channels={channels} "
                "(the previous layer's out_channels)."
            )
    if isinstance(module, (*convs[:3], *pools)):

        def pair(v: Any, i: int) -> int:
            return v[i] if isinstance(v, tuple) else v

        dims = len(module.kernel_size) if isinstance(module.kernel_size, tuple) else int(type(module).__name__[-2])
        if len(shape) < dims:
            return
        for i, n in enumerate(shape[-dims:]):
            k, s, p = pair(module.kernel_size, i), pair(module.stride, i), pair(module.padding, i)
            d = pair(getattr(module, "dilation", 1), i)
            if isinstance(p, str):
                continue
            if (n + 2 * p - d * (k - 1) - 1) // s + 1 < 1:
                raise CourseError(
                    f"{where}, which is too small for kernel_size={module.kernel_size}: use a larger input, "
                    "more padding or fewer downsampling layers before it."
                )


def trace_shapes(model: nn.Module, input: torch.Tensor | tuple[int, ...]) -> ShapeTable:
    """Run ``model`` once and list every leaf layer's output shape and parameter count.

    ``input`` is a tensor, e.g. of shape ``(N, C, H, W)``, or such a shape as a
    tuple (a random tensor is made). The model runs in eval mode without
    gradients; its training flags are restored afterwards.

    Example:
        >>> table = trace_shapes(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten()), (2, 3, 32, 32))
        >>> table.rows[0].output_shape
        (2, 8, 30, 30)
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise CourseError(f"trace_shapes needs an nn.Module, but got {type(model).__name__}.")
    if not isinstance(input, torch.Tensor):
        try:
            param = next(model.parameters(), None)
            input = torch.randn(*input, device=param.device if param is not None else None)
        except (TypeError, RuntimeError):
            raise CourseError(f"input should be a tensor or a shape such as (1, 3, 32, 32), not {input!r}.") from None
    rows: list[ShapeRow] = []
    seen: set[int] = set()
    running: list[tuple[str, nn.Module, Any]] = []

    def before(name: str, leaf: bool):
        def hook(module: nn.Module, args: tuple) -> None:
            if leaf and args and isinstance(args[0], torch.Tensor):
                _check_input(name, module, args[0])
            running.append((name, module, _shape_of(args[0]) if args else ()))

        return hook

    def after(name: str, leaf: bool):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            _, _, in_shape = running.pop()
            if leaf:
                own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
                seen.update(id(p) for p in own)
                rows.append(
                    ShapeRow(name, type(module).__name__, in_shape, _shape_of(output), sum(p.numel() for p in own))
                )

        return hook

    modes = {m: m.training for m in model.modules()}
    handles = []
    try:
        for name, module in model.named_modules():  # every module keeps the stack; leaves make the rows
            leaf = next(module.children(), None) is None
            handles.append(module.register_forward_pre_hook(before(name or type(module).__name__, leaf)))
            handles.append(module.register_forward_hook(after(name or type(module).__name__, leaf)))
        model.eval()
        with torch.no_grad():
            try:
                model(input)
            except CourseError:
                raise
            except Exception as exc:  # a layer failed in a way the checks above do not foresee
                last = f" after layer '{rows[-1].name}' returned {_fmt(rows[-1].output_shape)}" if rows else ""
                if not running:
                    raise CourseError(f"The model failed on input of shape {tuple(input.shape)}: {exc}") from None
                name, module, in_shape = running[-1]
                if next(module.children(), None) is not None:  # functional code in a container's forward
                    raise CourseError(
                        f"The forward of '{name}' ({type(module).__name__}) failed{last}: {exc}; "
                        "check the reshaping or functional code between those layers."
                    ) from None
                raise CourseError(
                    f"Layer '{name}' ({module!r}) failed on input of shape {_fmt(in_shape)}: {exc}"
                ) from None
    finally:
        for h in handles:
            h.remove()
        for m, flag in modes.items():
            m.training = flag
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return ShapeTable(rows, total)
