"""Front-end detection, figure-to-PNG rendering and the static fallback every course widget shares.

How a widget shows itself (the rule, and why):

* A course widget's ``_repr_mimebundle_`` returns ONE display bundle with
  **both** a widget view (``application/vnd.jupyter.widget-view+json``) and a
  PNG of its current figure (``image/png``), plus a ``text/plain`` line.
* A live front end (JupyterLab, Notebook, Colab, VS Code) ranks the widget view
  above the PNG and shows the interactive controls.
* Renderers without a widget manager (nbval/nbclient runs, ``jupyter
  nbconvert``, the book build, GitHub's viewer) skip the widget view and keep
  the PNG, so executed notebooks and the site show a meaningful picture.
* Outside an IPython kernel (plain ``python``, IPython terminal) there is no
  widget front end at all, so only the PNG and the text line are returned.

A kernel cannot know whether a front end is listening (nbclient sets no
environment variable), which is why the bundle carries both views. The
environment variable ``COURSE_WIDGETS`` overrides the guess: ``static`` drops
the widget view (e.g. for a book build that would otherwise store widget
state), ``live`` keeps it even outside a kernel.
"""

from __future__ import annotations

import base64
import io
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def display_mode() -> str:
    """``"live"`` when a widget front end may be listening, else ``"static"``.

    ``COURSE_WIDGETS=static|live`` overrides; otherwise ``live`` means "running
    inside an IPython kernel" (ipykernel, which is what Jupyter and Colab use).

    Example:
        >>> display_mode()   # in plain python
        'static'
    """
    env = os.environ.get("COURSE_WIDGETS", "").strip().lower()
    if env in ("static", "live"):
        return env
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return "static"
    shell = get_ipython()
    return "live" if shell is not None and getattr(shell, "kernel", None) is not None else "static"


def new_figure(width: float, height: float, dpi: int = 72) -> "Figure":
    """A matplotlib Figure on the Agg canvas, NOT registered with pyplot (so inline backends never auto-show it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: "Figure") -> bytes:
    """Render ``fig`` with Agg and encode it as PNG (fast zlib level), returning the bytes."""
    fig.canvas.draw()
    return encode_png(fig.canvas)


def encode_png(canvas: Any) -> bytes:
    """PNG bytes of what an Agg canvas holds now (no re-draw); zlib level 1: fast, still ~7x smaller than raw."""
    import numpy as np
    from PIL import Image

    rgba = np.asarray(canvas.buffer_rgba())
    buf = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def message_html(text: str) -> str:
    """The one-line message a widget shows in place of a traceback ('' clears it)."""
    import html

    return f'<span style="color:#b00020">⚠️ {html.escape(text)}</span>' if text else ""


class FigureWidget:
    """Base class: a matplotlib figure shown through a core ``ipywidgets.Image``, with a static fallback.

    Subclasses build ``self.fig`` (see :func:`new_figure`), ``self.view`` (the
    ipywidgets container to display) and call :meth:`_refresh` after drawing.
    """

    fig: "Figure"
    view: Any
    _image: Any

    def _make_image_widget(self) -> Any:
        import ipywidgets as widgets

        # align_self: inside an HBox the picture keeps its own height instead of stretching to the controls'
        self._image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        return self._image

    _animated: tuple = ()  # artists set_animated(True): re-drawn over a cached background on a partial refresh
    _background: Any = None

    def _render(self) -> bytes:
        """PNG of the figure now. A full Agg draw only when the background is stale; otherwise restore the
        cached background and draw just the animated artists (blitting), then encode."""
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()  # skips animated artists
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self._animated:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        return encode_png(canvas)

    def _refresh(self, full: bool = True) -> None:
        """Push the current figure to the image widget (the only thing a front end re-receives).

        ``full=False``: only the animated artists changed. Where no front end can be
        listening (:func:`display_mode` is ``"static"``) nothing is rendered until
        the picture is asked for (:meth:`png`).
        """
        if full:
            self._background = None
        if display_mode() == "live":
            self._image.value = self._render()

    def png(self) -> bytes:
        """The current figure as PNG bytes (what static renderers show)."""
        return self._render()

    def _summary(self) -> str:
        return f"{type(self).__name__}()"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text/plain": self._summary(),
            "image/png": base64.b64encode(self.png()).decode("ascii"),
        }
        if display_mode() == "live":
            data[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": self.view.model_id}
        return data

    def close(self) -> None:
        """Close the widget views (and any hooks a subclass holds)."""
        try:
            _close_tree(self.view)
        except Exception:  # pragma: no cover - closing twice is harmless
            pass


def _close_tree(widget: Any) -> None:
    for child in getattr(widget, "children", ()) or ():
        _close_tree(child)
    widget.close()
