"""Checkpoints that survive a crash and resume training exactly.

:func:`save_checkpoint` writes the model, the optimiser, the scheduler, the
gradient scaler, the epoch, every random-number state (Python, NumPy, PyTorch's
CPU and CUDA generators, plus any ``torch.Generator`` such as a DataLoader's) and
your own extra values. It writes to a temporary file in the same folder and then
renames it with ``os.replace``, which is atomic: a crash while saving leaves the
previous checkpoint untouched, never a half-written file under the final name.

:func:`load_checkpoint` reads with ``torch.load(weights_only=True)``, so a file
cannot run code when it is opened (see PyTorch's serialization notes,
https://pytorch.org/docs/stable/notes/serialization.html), checks that the file
is a whole checkpoint written here, and puts everything back. Training
interrupted after epoch k and resumed this way gives the same weights as
training without interruption, bit for bit on a CPU with
:func:`course_utils.set_deterministic`.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "course_utils.checkpoint/1"  # marker written into every checkpoint
_REQUIRED = ("format", "epoch", "model", "optimizer", "scheduler", "scaler", "rng", "generators", "extra")


@dataclass(frozen=True)
class CheckpointSpec:
    """How :func:`course_utils.fit` uses a checkpoint file.

    Args:
        path: the file, e.g. ``"runs/cnn.pt"`` (its folder is created).
        every: save after every ``every``-th epoch (and always after the last one).
        resume: when the file exists, continue from it instead of starting over.

    Example:
        >>> fit(model, train_loader, epochs=10, optimizer=opt, loss_fn=loss_fn,
        ...     checkpoint=CheckpointSpec("runs/cnn.pt", every=2))   # doctest: +SKIP
    """

    path: str | os.PathLike[str]
    every: int = 1
    resume: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise CourseError(f"CheckpointSpec(every=...) must be a whole number of epochs >= 1, not {self.every!r}.")


def _rng_state() -> dict[str, Any]:
    """Every global random state, as tensors and plain values that ``weights_only`` loading accepts."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    *,
    epoch: int = 0,
    generators: Iterable[torch.Generator] = (),
    **extra: Any,
) -> Path:
    """Save everything needed to resume training, atomically.

    Args:
        path: the checkpoint file; its folder is created if missing.
        model: its ``state_dict()`` is saved.
        optimizer, scheduler, scaler: saved when given (``scaler``: a
            ``torch.amp.GradScaler``).
        epoch: how many epochs are finished.
        generators: ``torch.Generator`` objects whose state is saved too, e.g. the
            ``generator=`` of a shuffling DataLoader.
        **extra: your own values (numbers, strings, lists, dicts, tensors: what
            ``torch.load(weights_only=True)`` can read back).

    Returns:
        The path written.

    Example:
        >>> save_checkpoint("runs/cnn.pt", model, optimizer, epoch=3, best_acc=0.71)  # doctest: +SKIP
    """
    import torch

    path = Path(path)
    if not isinstance(epoch, int) or epoch < 0:
        raise CourseError(f"epoch must be the number of finished epochs (a whole number >= 0), not {epoch!r}.")
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": _rng_state(),
        "generators": [g.get_state() for g in generators],
        "extra": extra,
        "torch_version": str(torch.__version__),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CourseError(
            f"The folder {path.parent} cannot be created ({exc.strerror}); choose a path you can write to."
        ) from None
    # a fresh name in the same folder (so os.replace is a rename), created with the usual permissions
    tmp_name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)  # atomic on POSIX and Windows
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return path


def _not_whole(path: Path, why: str) -> CourseError:
    return CourseError(
        f"{path} is not a whole course_utils checkpoint ({why}): it may have been cut short or be "
        "a different kind of file, so delete it and train again, or pass the right path."
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    *,
    map_location: Any = None,
    restore_rng: bool = True,
    generators: Iterable[torch.Generator] = (),
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` and restore everything.

    The model's weights, then (when given) the optimiser, scheduler and scaler
    states are restored in place; with ``restore_rng=True`` so are the Python,
    NumPy, PyTorch (and CUDA) random states and the states of ``generators``
    (pass the same generators, in the same order, as when saving).

    Returns:
        The checkpoint as a dict: ``"epoch"``, ``"extra"`` (your values), and the
        saved state dicts.

    Raises:
        CourseError: the file is missing, truncated, not a checkpoint written by
            :func:`save_checkpoint`, or its weights do not fit ``model``.

    Example:
        >>> ckpt = load_checkpoint("runs/cnn.pt", model, optimizer)  # doctest: +SKIP
        >>> start_epoch = ckpt["epoch"]                               # doctest: +SKIP
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CourseError(f"There is no checkpoint at {path}; check the path or train first.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise _not_whole(path, "it holds Python objects that torch.load(weights_only=True) refuses to load") from None
    except Exception as exc:  # a cut-short zip, random bytes, a legacy pickle: many exception types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise _not_whole(path, f"PyTorch could not read it: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CourseError(
                f"{path} holds only a model's weights, not a save_checkpoint file: "
                "load it with model.load_state_dict(torch.load(path, weights_only=True))."
            )
        raise _not_whole(path, "it has no course_utils format marker")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise _not_whole(path, f"it lacks {', '.join(missing)}")

    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise CourseError(
            f"The weights in {path} do not fit this model ({first[:160]}): build the same architecture that was saved."
        ) from None
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is None:
            continue
        if state[name] is None:
            raise CourseError(
                f"{path} holds no {name} state; pass {name}=None or resume from a checkpoint saved with one."
            )
        try:
            obj.load_state_dict(state[name])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CourseError(
                f"The {name} state in {path} does not fit the {name} you passed ({exc}): "
                f"make the {name} the same way as in the run that saved it."
            ) from None
    if restore_rng:
        _set_rng_state(state["rng"])
        generators = list(generators)
        if len(generators) != len(state["generators"]):
            raise CourseError(
                f"{path} holds {len(state['generators'])} generator states but {len(generators)} generators were "
                "passed: pass the same generators as when saving."
            )
        for generator, gen_state in zip(generators, state["generators"]):
            generator.set_state(gen_state.cpu())
    return state
