"""Modules as test inputs and as answers, in plain data both processes can hold.

The sandboxed child and the grader exchange only plain data (tensors, numbers,
strings, lists, dicts). Exercises about ``nn.Module`` need three more things,
all built from ``torch.nn`` layers named in :data:`LAYERS`:

* a model as a *test input* (``gradient_map(model, x)``): :func:`model_arg`
  (grader) writes it as ``{"__module__": layers, "state": ..., "dtype": ...,
  "training": ...}`` and :func:`build_arg` (child and grader) turns that into
  the same ``nn.Sequential`` on both sides;
* a model as an *answer* (``classifier()``, ``downsampling_stack(224, 7)``):
  :func:`describe` (child) writes its layers and hyper-parameters as plain
  data, and :func:`build` (grader) rebuilds real ``torch.nn`` layers from
  that description, so the grader judges PyTorch's own layers, never the
  learner's objects;
* a module class, or a function that builds a module, as an answer
  (``make_cnn(num_classes)`` in chapter 05, run on a batch ``x``):
  :func:`run_module` (child) constructs it, runs it forward and backward and
  returns its output, parameters and their gradients;
* a module class that must hold a reference model's weights under the same
  names (``BasicBlock(64, 128, 2)`` loading torchvision's block):
  :func:`run_with_state` (child) constructs it, loads the given ``state_dict``
  and reports the keys that did not match as data, or its eval-mode output;
  :func:`state_problem` (grader and notebook) turns that report into one sentence.

This module holds no expected values: nothing in it can help an answer pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# torch.nn layers the verifier can describe and rebuild, with the constructor arguments read back as attributes.
LAYERS: dict[str, tuple[str, ...]] = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"),
    "ConvTranspose2d": (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "output_padding",
        "groups",
        "dilation",
    ),
    "Linear": ("in_features", "out_features"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool2d": ("output_size",),
    "AdaptiveMaxPool2d": ("output_size",),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "Dropout": ("p",),
    "Flatten": ("start_dim", "end_dim"),
    "ReLU": (),
    "LeakyReLU": ("negative_slope",),
    "GELU": ("approximate",),
    "Sigmoid": (),
    "Tanh": (),
    "Identity": (),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine"),
    "PReLU": ("num_parameters",),
}
_WITH_BIAS = ("Conv2d", "ConvTranspose2d", "Linear")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _listed(value: Any) -> Any:
    """Tuples as lists, recursively: the form a description has after crossing from the child."""
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _listed(v) for k, v in value.items()}
    return value


def _layer(module: nn.Module) -> list:
    name = type(module).__name__
    if name not in LAYERS or type(module) is not getattr(nn, name):
        raise TypeError(
            f"the model contains a {name}, which is not one of the torch.nn layers the verifier can "
            f"rebuild ({', '.join(LAYERS)})"
        )
    kwargs = {attr: getattr(module, attr) for attr in LAYERS[name]}
    if name in _WITH_BIAS:
        kwargs["bias"] = module.bias is not None
    shapes = {key: list(value.shape) for key, value in module.state_dict().items()}
    return [name, _listed(kwargs), shapes]


def _leaves(module: nn.Module, seen: dict[int, str] | None = None) -> list[list]:
    """The leaf layers in order, a module reused in several places listed at each place.

    ``children()`` would list a reused module once; a model that applies one ``nn.ReLU`` after
    every convolution computes the same as one with a ReLU per convolution, so it is described
    the same (behaviour, not object identity). A reused layer with weights or buffers is refused:
    its places share their parameters, which the rebuilt model would not.
    """
    seen = {} if seen is None else seen
    children = [child for child in module._modules.values() if child is not None]
    if not children:
        if next(iter(module.state_dict()), None) is not None:
            if id(module) in seen:
                raise TypeError(
                    f"the model uses one {type(module).__name__} in several places, so they share their "
                    "weights; create a new layer for each place"
                )
            seen[id(module)] = type(module).__name__
        return [_layer(module)]
    if type(module) is not nn.Sequential:
        raise TypeError(
            f"the model contains a {type(module).__name__} with its own forward; the verifier reads "
            "models built from nn.Sequential and torch.nn layers only"
        )
    return [leaf for child in children for leaf in _leaves(child, seen)]


def describe(module: Any) -> dict:
    """Child side: ``{"type": ..., "layers": [[name, kwargs, state shapes], ...]}`` of a model built from nn.Sequential."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"the answer is a {type(module).__name__}, not an nn.Module")
    return {"type": type(module).__name__, "layers": _leaves(module)}


def build(layers: list, *, check_shapes: bool = True) -> nn.Sequential:
    """Grader side: real torch.nn layers from a description's ``layers`` (raises ValueError when it is not one).

    Build it under ``with torch.device("meta"):`` to trace shapes without memory.
    """
    if not isinstance(layers, list):
        raise ValueError("the description has no list of layers")
    modules = []
    for number, entry in enumerate(layers, start=1):
        if not isinstance(entry, list) or len(entry) not in (2, 3) or not isinstance(entry[1], dict):
            raise ValueError(f"layer {number} is not described as [name, arguments, shapes]")
        name, kwargs = entry[0], entry[1]
        if name not in LAYERS:
            raise ValueError(f"layer {number} is a {name!r}, which the verifier cannot rebuild")
        allowed = set(LAYERS[name]) | ({"bias"} if name in _WITH_BIAS else set())
        if set(kwargs) - allowed:
            raise ValueError(f"layer {number} ({name}) has unknown arguments {sorted(set(kwargs) - allowed)}")
        try:
            module = getattr(nn, name)(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
        except Exception as exc:  # noqa: BLE001 - any refusal of PyTorch's constructor is a wrong description
            raise ValueError(f"layer {number} ({name}) cannot be built: {exc}") from None
        if check_shapes and len(entry) == 3:
            shapes = {key: list(value.shape) for key, value in module.state_dict().items()}
            if shapes != entry[2]:
                raise ValueError(
                    f"layer {number} ({name}) holds tensors of shapes {entry[2]}, not those of its arguments {shapes}"
                )
        modules.append(module)
    return nn.Sequential(*modules)


def model_arg(
    layers: list, *, seed: int, dtype: torch.dtype = torch.float32, training: bool = True, init: Any = None
) -> dict:
    """Grader side: a model test input as plain data; ``layers`` are ``[name, kwargs]`` pairs, weights from ``seed``.

    ``init(model)`` may change the weights or buffers (e.g. BatchNorm statistics) before they are stored.
    """
    layers = _listed([[name, dict(kwargs)] for name, kwargs in layers])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(layers).to(dtype)
        if init is not None:
            with torch.no_grad():
                init(model)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"__module__": layers, "state": state, "dtype": str(dtype).removeprefix("torch."), "training": training}


def is_model_arg(value: Any) -> bool:
    return type(value) is dict and "__module__" in value


def build_arg(value: dict) -> nn.Sequential:
    """Child and grader side: the ``nn.Sequential`` a :func:`model_arg` stands for, in its training mode."""
    model = build(value["__module__"]).to(_DTYPES[value.get("dtype", "float32")])
    model.load_state_dict(value["state"])
    return model.train(bool(value.get("training", True)))


def run_module(target: Any, args: list, kwargs: dict) -> dict:
    """Child side: ``module = target(*args[:-1], **kwargs)``, then forward ``args[-1]`` and backward its sum.

    Returns the output, whether it needs a gradient, and every parameter with its gradient (None when none).
    """
    *ctor, x = args
    module = target(*ctor, **kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(f"calling it returned a {type(module).__name__}, not an nn.Module")
    out = module(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"its forward returned a {type(out).__name__}, not a tensor")
    requires_grad = bool(out.requires_grad)
    if requires_grad:
        out.sum().backward()
    params = dict(module.named_parameters())
    return {
        "output": out,
        "requires_grad": requires_grad,
        "parameters": {name: p.detach() for name, p in params.items()},
        "grads": {name: p.grad for name, p in params.items()},
    }


def run_with_state(target: Any, args: list, kwargs: dict) -> dict:
    """Child side: ``module = target(*args[:-2], **kwargs)``, load ``args[-2]`` (a state_dict), forward ``args[-1]``.

    The state is loaded as ``load_state_dict(state, strict=True)`` would, but the keys that do not match
    come back as data (``{"missing": [...], "unexpected": [...]}``, or ``{"load_error": sentence}`` for a
    tensor of another shape) for the grader to judge. When everything loads, the module runs in eval
    mode without gradients: ``{"output": tensor, "missing": [], "unexpected": []}``.
    """
    *ctor, state, x = args
    module = target(*ctor, **kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(f"calling it returned a {type(module).__name__}, not an nn.Module")
    own = set(module.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        return {"missing": missing, "unexpected": unexpected}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # a tensor of another shape under the right name
        return {"load_error": " ".join(str(exc).split())[-300:]}
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        module.to(x.dtype)  # a float64 input runs the loaded block in float64, as the reference does
    module.eval()
    with torch.no_grad():
        out = module(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"its forward returned a {type(out).__name__}, not a tensor")
    return {"output": out, "missing": [], "unexpected": []}


def state_problem(result: Any, label: str, source: str = "torchvision's") -> str | None:
    """None when :func:`run_with_state` loaded the state strictly, else one sentence saying which keys differ."""
    if type(result) is not dict:
        return f"{label} did not report how the state_dict loaded"
    if result.get("load_error"):
        return (
            f"{label} has the right names but a tensor of another shape than {source}: "
            f"{str(result['load_error'])[:200]}"
        )
    missing, unexpected = result.get("missing") or [], result.get("unexpected") or []
    if missing or unexpected:
        parts = []
        if unexpected:
            parts.append(f"lacks {', '.join(map(str, unexpected[:4]))}{' ...' if len(unexpected) > 4 else ''}")
        if missing:
            parts.append(
                f"has {', '.join(map(str, missing[:4]))}{' ...' if len(missing) > 4 else ''} "
                f"which {source} block does not"
            )
        return (
            f"{label} does not load {source} state_dict with strict=True: it {' and '.join(parts)}; "
            "name the submodules as the statement says"
        )
    if type(result.get("output")) is not torch.Tensor:
        return f"{label} returned no output tensor"
    return None
