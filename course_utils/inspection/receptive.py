"""Receptive fields: the analytic field of every layer of a CNN.

:func:`receptive_field` follows the recursion of Araujo, Norris & Sim,
"Computing Receptive Fields of Convolutional Neural Networks" (Distill, 2019),
per spatial axis, for a layer with kernel ``k``, stride ``s``, padding ``p`` and
dilation ``d``::

    size_out  = size_in + (k - 1) * d * jump_in
    jump_out  = jump_in * s                       # distance between neighbouring units, in input pixels
    start_out = start_in + ((k - 1) / 2 * d - p) * jump_in   # centre of unit 0's field (pixel 0's centre = 0.5)

It runs the model once under a ``TorchFunctionMode`` and attaches
``(size, jump, start)`` to every tensor, so functional code is followed too:
residual additions merge by the largest field, and a global pooling that gates
a feature map (squeeze-excitation) is listed in ``.gates`` instead of making
the whole image the field. How much each pixel of the field actually matters is
measured by :func:`~course_utils.inspection.effective_field.effective_receptive_field`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn

Pair = tuple[float, float]


@dataclass(frozen=True)
class _Field:
    size: Pair
    jump: Pair
    start: Pair
    source: _Field | None = None  # set when the tensor is global: the spatial field that was pooled

    def conv(self, k: Pair, s: Pair, p: Pair, d: Pair) -> _Field:
        return _Field(
            tuple(self.size[i] + (k[i] - 1) * d[i] * self.jump[i] for i in range(2)),
            tuple(self.jump[i] * s[i] for i in range(2)),
            tuple(self.start[i] + ((k[i] - 1) / 2 * d[i] - p[i]) * self.jump[i] for i in range(2)),
        )


@dataclass
class FieldRow:
    """One leaf layer: its geometry and the field of its output (per axis, ``(H, W)``)."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    size: Pair
    jump: Pair
    start: Pair
    is_global: bool


class ReceptiveField:
    """Result of :func:`receptive_field`: ``.size``, ``.jump``, ``.start`` at the output, ``.layers``, ``.gates``."""

    def __init__(self, layers: list[FieldRow], final: _Field, gates: list[str]) -> None:
        self.layers = layers
        self.size = tuple(int(v) for v in final.size)
        self.jump = tuple(int(v) for v in final.jump)
        self.start = tuple(float(v) for v in final.start)
        self.gates = gates

    def _cells(self) -> list[tuple[str, ...]]:
        def pair(v: Pair) -> str:
            return f"{v[0]:g}" if v[0] == v[1] else f"{v[0]:g}x{v[1]:g}"

        return [
            (
                r.name,
                r.type,
                str(r.output_shape),
                "global" if r.is_global else pair(r.size),
                pair(r.jump),
                pair(r.start),
            )
            for r in self.layers
        ]

    def __str__(self) -> str:
        cells = [("layer", "type", "output shape", "field", "jump", "start"), *self._cells()]
        widths = [max(len(c[i]) for c in cells) for i in range(6)]
        lines = ["  ".join(c[i].ljust(widths[i]) for i in range(6)).rstrip() for c in cells]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"at the output: field {self.size}, jump {self.jump}, start {self.start}")
        if self.gates:
            lines.append(f"global gates (not counted): {', '.join(self.gates)}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("layer", "type", "output shape", "field", "jump", "start"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        notes = "<br>".join(html.escape(line) for line in str(self).splitlines()[len(self.layers) + 2 :])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{notes}</p>"


def _pair(v: Any) -> Pair:
    if isinstance(v, (list, tuple)):
        return (v[0], v[0]) if len(v) == 1 else (v[-2], v[-1])
    return (v, v)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


class _Tracker:
    """Attaches a :class:`_Field` to every tensor the forward pass produces."""

    def __init__(self) -> None:
        self.fields: dict[int, tuple[Any, _Field]] = {}  # id(tensor) -> (tensor kept alive, field)
        self.stack: list[str] = []
        self.gates: list[str] = []
        self.made_by: dict[int, str] = {}  # id(global tensor) -> layer that pooled it

    def get(self, t: Any) -> _Field | None:
        hit = self.fields.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None

    def set(self, t: Any, f: _Field) -> None:
        self.fields[id(t)] = (t, f)

    def inputs(self, value: Any, found: list) -> list:
        if isinstance(value, (list, tuple)):
            for v in value:
                self.inputs(v, found)
        elif self.get(value) is not None:
            found.append((value, self.get(value)))
        return found

    def fail(self, what: str) -> None:
        where = f" in layer '{self.stack[-1]}'" if self.stack else ""
        raise CourseError(
            f"receptive_field cannot follow {what}{where}: it handles convolutions, pooling and elementwise layers; "
            "pass the convolutional part of the model (e.g. model.features) instead."
        )

    def after(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        import torch

        result = out[0] if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor) else out
        if not isinstance(result, torch.Tensor):
            return
        found = self.inputs(list(args) + list(kwargs.values()), [])
        if not found:
            return
        name = getattr(func, "__name__", str(func))
        x, field = found[0]
        spatial = [(t, f) for t, f in found if f.source is None and t.dim() >= 3]
        if (
            field.source is None
            and x.dim() >= 3
            and name in ("conv2d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d")
        ):
            if name == "conv2d":
                k = _pair(tuple(_arg(args, kwargs, 1, "weight", None).shape[-2:]))
                s, d = _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(_arg(args, kwargs, 5, "dilation", 1))
                p = _arg(args, kwargs, 4, "padding", 0)
                if isinstance(p, str):
                    p = (0, 0) if p == "valid" else tuple((d[i] * (k[i] - 1)) // 2 for i in range(2))
            else:
                k = _pair(_arg(args, kwargs, 1, "kernel_size", None))
                s = _pair(_arg(args, kwargs, 2, "stride", None) or k)
                p = _pair(_arg(args, kwargs, 3, "padding", 0))
                d = _pair(_arg(args, kwargs, 4, "dilation", 1)) if name.startswith("max") else (1, 1)
            self.set(result, field.conv(k, s, _pair(p), d))
        elif field.source is None and name.startswith("adaptive_") and x.dim() >= 3:
            n_in, n_out = tuple(x.shape[-2:]), tuple(result.shape[-2:])
            if all(o <= i and i % o == 0 for i, o in zip(n_in, n_out)) and n_out != (1, 1) or n_in == n_out:
                k = tuple(i // o for i, o in zip(n_in, n_out))
                self.set(result, field.conv(k, k, (0, 0), (1, 1)))
            else:
                self.set(result, _Field(field.size, field.jump, field.start, source=field))
                self.made_by[id(result)] = self.stack[-1] if self.stack else name
        elif name == "pad" and field.source is None:
            pad = list(_arg(args, kwargs, 1, "pad", ())) + [0, 0, 0, 0]  # (left, right, top, bottom)
            self.set(result, field.conv((1, 1), (1, 1), (pad[2], pad[0]), (1, 1)))
        elif not spatial:  # only global inputs: stays global
            self.set(result, field)
            self.made_by[id(result)] = self.made_by.get(id(x), name)
        else:
            same = [(t, f) for t, f in spatial if result.dim() >= 3 and tuple(t.shape[-2:]) == tuple(result.shape[-2:])]
            if same:
                if any(f.source is not None for _, f in found):
                    gates = [self.made_by.get(id(t), name) for t, f in found if f.source is not None]
                    self.gates.extend(g for g in gates if g not in self.gates)
                best = max((f for _, f in same), key=lambda f: f.size[0] * f.size[1])
                self.set(result, best)
            elif result.dim() >= 4 and min(result.shape[-2:]) > 1:
                self.fail(
                    f"'{name}', which changes the spatial size from {tuple(x.shape[-2:])} to {tuple(result.shape[-2:])}"
                )
            else:  # flatten, mean over H and W, linear on a flattened map: the whole image
                best = max((f for _, f in spatial), key=lambda f: f.size[0] * f.size[1])
                self.set(result, _Field(best.size, best.jump, best.start, source=best))


def make_input(model: nn.Module, input_size: Any) -> torch.Tensor:
    """A random image ``(1, C, H, W)`` on the model's device; ``input_size`` is ``H``, ``(H, W)`` or ``(C, H, W)``.

    Without ``C`` the channels are those of the model's first ``Conv2d`` (else 3).
    """
    import torch
    from torch import nn

    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) == 2:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        size = (first.in_channels if first is not None else 3, *size)
    if len(size) != 3 or not all(isinstance(v, int) and v > 0 for v in size):
        raise CourseError(
            f"input_size should be H, (H, W) or (C, H, W) with positive whole numbers, not {input_size!r}."
        )
    param = next(model.parameters(), None)
    return torch.randn(1, *size, device=param.device if param is not None else None)


def receptive_field(model: nn.Module, input_size: int | tuple[int, ...]) -> ReceptiveField:
    """Receptive field, jump (effective stride) and start of every layer of a 2-D CNN.

    ``input_size`` is ``H``, ``(H, W)`` or ``(C, H, W)``; one image ``(1, C, H, W)``
    runs through the model in eval mode. ``.size``, ``.jump`` and ``.start`` are
    ``(H, W)`` pairs at the model's output, or, when the model ends by pooling
    globally (a classifier), at the feature map that is pooled.

    Example:
        >>> rf = receptive_field(torchvision.models.vgg16(weights=None).features, 224)
        >>> rf.size, rf.jump
        ((212, 212), (32, 32))
    """
    import torch
    from torch.overrides import TorchFunctionMode

    tracker = _Tracker()

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            tracker.after(func, args, kwargs, out)
            return out

    rows: list[FieldRow] = []

    def push(name: str):
        return lambda module, args: tracker.stack.append(name)

    def pop(name: str, leaf: bool):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            tracker.stack.pop()
            first = output[0] if isinstance(output, (tuple, list)) and output else output
            field = tracker.get(first)
            if leaf and field is not None:
                f = field.source or field
                rows.append(
                    FieldRow(
                        name,
                        type(module).__name__,
                        tuple(first.shape),
                        f.size,
                        f.jump,
                        f.start,
                        is_global=field.source is not None,
                    )
                )

        return hook

    x = make_input(model, input_size)
    tracker.set(x, _Field((1, 1), (1, 1), (0.5, 0.5)))
    modes = {m: m.training for m in model.modules()}
    handles = []
    try:
        for name, module in model.named_modules():
            name = name or type(module).__name__
            handles.append(module.register_forward_pre_hook(push(name)))
            handles.append(module.register_forward_hook(pop(name, next(module.children(), None) is None)))
        model.eval()
        with torch.no_grad(), Mode():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in modes.items():
            m.training = flag
    out = out[0] if isinstance(out, (tuple, list)) else out
    field = tracker.get(out)
    if field is None:
        raise CourseError("receptive_field could not follow the input to the model's output.")
    return ReceptiveField(rows, field.source or field, tracker.gates)
