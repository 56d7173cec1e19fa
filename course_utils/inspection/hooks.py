"""Capture activations and gradients with hooks that always remove themselves, and activation statistics.

The context managers follow fastai's ``hook.py`` idea: a hook lives exactly as
long as a ``with`` block, so a failed cell never leaves hooks behind. What they
store is a detached *clone*, because an in-place layer that runs later (for
example ``nn.ReLU(inplace=True)``) would otherwise overwrite the stored tensor.

:func:`activation_stats` records the mean, standard deviation and fraction of
zeros of each layer's output at every forward pass, the numbers the
initialisation chapter plots (Glorot & Bengio, 2010; He et al., 2015).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from torch import nn


def resolve_layers(model: nn.Module, layers: Any = None) -> list[tuple[str, nn.Module]]:
    """Turn names, modules or module types into ``(name, module)`` pairs in ``model.named_modules()`` order.

    ``layers=None`` means every leaf module. A wrong name raises a
    :class:`CourseError` that lists the closest valid names.

    Example:
        >>> resolve_layers(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), nn.ReLU)
        [('1', ReLU())]
    """
    from torch import nn

    named = [(n, m) for n, m in model.named_modules()]
    if layers is None:
        return [(n or type(m).__name__, m) for n, m in named if next(m.children(), None) is None]
    specs = list(layers) if isinstance(layers, (list, tuple, set)) else [layers]
    by_name = dict(named)
    chosen: dict[int, tuple[str, nn.Module]] = {}
    for spec in specs:
        if isinstance(spec, str):
            if spec not in by_name:
                close = difflib.get_close_matches(spec, [n for n in by_name if n], n=5, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise CourseError(
                    f"The model has no layer named {spec!r}.{hint} List them with [n for n, _ in model.named_modules()]."
                )
            found = [(spec, by_name[spec])]
        elif isinstance(spec, type) and issubclass(spec, nn.Module):
            found = [(n or type(m).__name__, m) for n, m in named if isinstance(m, spec)]
            if not found:
                raise CourseError(f"The model contains no {spec.__name__} layer.")
        elif isinstance(spec, nn.Module):
            found = [(n or type(m).__name__, m) for n, m in named if m is spec]
            if not found:
                raise CourseError(f"The module {type(spec).__name__} you passed is not part of this model.")
        else:
            raise CourseError(f"layers should be names, modules or module types, not {type(spec).__name__}.")
        for name, module in found:
            chosen.setdefault(id(module), (name, module))
    order = {id(m): i for i, (_, m) in enumerate(named)}
    return sorted(chosen.values(), key=lambda nm: order[id(nm[1])])


def _first_tensor(value: Any) -> torch.Tensor | None:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value:
        return _first_tensor(value[0])
    return None


@contextmanager
def _on_outputs(chosen: list[tuple[str, nn.Module]], record: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """Call ``record(name, tensor)`` with the (first) tensor each chosen layer outputs, while the block runs."""

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            tensor = _first_tensor(output)
            if tensor is not None:
                record(name, tensor)

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class Captured(dict):
    """Maps each layer name to a list of tensors, one per call of the layer, oldest first.

    A layer called twice in one forward pass (torchvision's ResNet blocks reuse
    one ``relu``) adds two tensors per pass.
    """

    def last(self) -> dict[str, torch.Tensor]:
        """The most recent tensor of every layer that has one."""
        return {name: values[-1] for name, values in self.items() if values}


@contextmanager
def capture_activations(model: nn.Module, layers: Any = None, *, to_cpu: bool = False) -> Iterator[Captured]:
    """Record the output of ``layers`` (names, modules or types) at every forward pass inside the block.

    Each stored tensor is a detached clone of the layer's output, e.g. shape
    ``(N, C, H, W)`` for a conv. The hooks are removed when the block ends, even
    after an exception.

    Example:
        >>> with capture_activations(model, [nn.Conv2d, "classifier.1"]) as acts:
        ...     model(x)
        >>> acts["features.0"][0].shape
        torch.Size([8, 64, 32, 32])
    """
    chosen = resolve_layers(model, layers)
    captured = Captured({name: [] for name, _ in chosen})

    def keep(name: str, tensor: torch.Tensor) -> None:
        kept = tensor.detach().clone()
        captured[name].append(kept.cpu() if to_cpu else kept)

    with _on_outputs(chosen, keep):
        yield captured


@contextmanager
def capture_gradients(model: nn.Module, layers: Any = None, *, to_cpu: bool = False) -> Iterator[Captured]:
    """Record d(loss)/d(output) of ``layers`` at every backward pass inside the block.

    The gradient has the shape of the layer's output, e.g. ``(N, C, H, W)``.
    It works for layers without parameters and next to in-place layers because
    a hook is put on the output tensor itself (no module backward hook).
    Layers whose output does not require grad record nothing.

    Example:
        >>> with capture_gradients(model, nn.ReLU) as grads:
        ...     loss_fn(model(x), y).backward()
        >>> {name: g[0].abs().mean().item() for name, g in grads.items()}
    """
    chosen = resolve_layers(model, layers)
    captured = Captured({name: [] for name, _ in chosen})
    tensor_handles: list[Any] = []
    active = [True]

    def watch(name: str, tensor: torch.Tensor) -> None:
        if not tensor.requires_grad:
            return

        def store(grad: torch.Tensor) -> None:
            if active[0]:
                kept = grad.detach().clone()
                captured[name].append(kept.cpu() if to_cpu else kept)

        tensor_handles.append(tensor.register_hook(store))

    try:
        with _on_outputs(chosen, watch):
            yield captured
    finally:
        active[0] = False
        for handle in tensor_handles:
            handle.remove()


class ActivationStats:
    """Per-layer, per-step statistics of activations: ``mean``, ``std`` and ``zeros`` (fraction exactly 0).

    ``stats.mean[name]`` is a list with one float per forward pass (step).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.layers = list(names)
        self.mean: dict[str, list[float]] = {n: [] for n in names}
        self.std: dict[str, list[float]] = {n: [] for n in names}
        self.zeros: dict[str, list[float]] = {n: [] for n in names}

    def record(self, name: str, tensor: torch.Tensor) -> None:
        t = tensor.detach().float()
        self.mean[name].append(t.mean().item())
        self.std[name].append(t.std().item() if t.numel() > 1 else 0.0)
        self.zeros[name].append((t == 0).float().mean().item())

    @property
    def steps(self) -> int:
        """The number of forward passes recorded (of the first layer)."""
        return len(self.mean[self.layers[0]]) if self.layers else 0

    def rows(self, step: int = -1) -> list[tuple[str, float, float, float]]:
        """``(layer, mean, std, zeros)`` at one step (the last by default)."""
        return [(n, self.mean[n][step], self.std[n][step], self.zeros[n][step]) for n in self.layers if self.mean[n]]

    def __str__(self) -> str:
        lines = [f"{'layer':<24}{'mean':>10}{'std':>10}{'zeros':>8}"]
        lines += [f"{n:<24}{m:>10.4f}{s:>10.4f}{z:>8.1%}" for n, m, s, z in self.rows()] if self.steps else []
        return "\n".join(lines)

    def plot(self, stat: str = "std", ax: Axes | None = None) -> Axes:
        """Plot one statistic (``"mean"``, ``"std"`` or ``"zeros"``) against the step, one line per layer."""
        if stat not in ("mean", "std", "zeros"):
            raise CourseError(f"stat should be 'mean', 'std' or 'zeros', not {stat!r}.")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 3.5))
        for name in self.layers:
            ax.plot(getattr(self, stat)[name], label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(stat)
        if self.layers:
            ax.legend(fontsize="small")
        return ax


@contextmanager
def activation_stats(model: nn.Module, layers: Any = None) -> Iterator[ActivationStats]:
    """Record mean, std and fraction of zeros of ``layers``' outputs at every forward pass in the block.

    Nothing is stored but the numbers, so it is cheap to leave on during training.

    Example:
        >>> with activation_stats(model, nn.ReLU) as stats:
        ...     for _ in range(3):
        ...         model(torch.randn(64, 3, 32, 32))
        >>> stats.std["features.1"]  # three floats, one per step
    """
    chosen = resolve_layers(model, layers)
    stats = ActivationStats([name for name, _ in chosen])
    with _on_outputs(chosen, stats.record):
        yield stats
