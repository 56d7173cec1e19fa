"""``python -m course_utils doctor``: what the course finds on this machine.

Prints the versions of the libraries the course uses, the device, smoke mode,
widget support, the data folder and which CIFAR-10 sources are available. Exits
with 0 when the course can run (torch and torchvision import and the sample
photograph loads) and with 1, after one sentence saying what to do, otherwise.

Example:
    $ python -m course_utils doctor      # or: course-doctor, make doctor
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import os
import platform
import sys

PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "nbgrader")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _imports(name: str) -> str | None:
    """None when ``name`` imports, else the reason in a few words."""
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001  (any import failure is a finding, not a crash)
        return f"{type(exc).__name__}: {exc}"
    return None


def _device_line() -> str:
    from .config import get_device

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        device = get_device()
    return f"{device.type}: {out.getvalue().strip()}"


def _in_colab() -> bool:
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ImportError:  # no "google" package at all
        return False


def _widgets_line() -> str:
    problem = _imports("ipywidgets")
    where = "in Colab" if _in_colab() else "not in Colab"
    if problem is not None:
        return f"ipywidgets does not import ({problem}); widgets fall back to static pictures ({where})"
    lab = _version("jupyterlab_widgets")
    front = f", JupyterLab extension jupyterlab_widgets {lab}" if lab != "not installed" else ""
    return f"ipywidgets {_version('ipywidgets')} imports{front} ({where})"


def run(*, probe_timeout: float = 2.0) -> tuple[list[str], str | None]:
    """The report lines and, when the course cannot run, the sentence saying why."""
    from .config import data_dir, is_smoke
    from .data import cifar_sources
    from .errors import CourseError

    lines = [f"Python        {platform.python_version()} ({sys.executable})"]
    lines += [f"{name:<13} {_version(name)}" for name in PACKAGES]
    fatal: str | None = None
    for name in ("torch", "torchvision"):
        problem = _imports(name)
        if problem is not None and fatal is None:
            fatal = f"{name} does not import ({problem}); run `make env` (or pip install -e .) to install the course's dependencies."
    if fatal is not None:
        return lines, fatal

    lines.append(f"device        {_device_line()}")
    try:
        lines.append(f"smoke mode    {'on' if is_smoke() else 'off'} (COURSE_SMOKE)")
    except CourseError as exc:
        lines.append(f"smoke mode    {exc}")
    lines.append(f"widgets       {_widgets_line()}")

    try:
        from .data import sample_image

        image = sample_image()
        lines.append(f"sample image  grace_hopper loads, shape {tuple(image.shape)}")
    except Exception as exc:  # noqa: BLE001
        fatal = f"The sample photograph does not load ({type(exc).__name__}: {exc}); reinstall matplotlib and pillow with `make env`."

    try:
        lines.append(f"data dir      {data_dir()}")
    except CourseError as exc:
        return lines, str(exc)
    statuses = cifar_sources.source_statuses(probe_timeout=probe_timeout)
    for status in statuses:
        lines.append(f"CIFAR-10      {'yes' if status.available else 'no '} {status.name:<12} {status.detail}")
    chosen = next((s for s in statuses if s.available), None)
    if chosen is not None:
        lines.append(f"CIFAR-10 source: {chosen.detail}")
    else:
        lines.append(
            f"CIFAR-10 source: none; chapters that train on CIFAR-10 will stop with: {cifar_sources.no_source_error()}"
        )
    return lines, fatal


def main() -> int:
    """Print the report; return 0 when the course can run, 1 otherwise (the console script's exit code)."""
    lines, fatal = run()
    print("\n".join(lines))
    if fatal is not None:
        print(f"\nThe course cannot run here: {fatal}")
        return 1
    print("\nThe course can run here.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
