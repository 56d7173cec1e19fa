"""The display rule: a PNG always, the widget view only where a front end may listen."""

import base64
import subprocess
import sys

from widget_helpers import png_array

from course_utils.widgets import KernelExplorer, Quiz
from course_utils.widgets._frontend import WIDGET_VIEW, display_mode


def test_plain_python_is_static_and_png_shows_default_state():
    assert display_mode() == "static"
    ex = KernelExplorer()
    bundle = ex._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    picture = png_array(base64.b64decode(bundle["image/png"]))
    assert picture.shape[0] > 100 and picture.std() > 10  # a real picture, not a blank
    assert bundle["text/plain"].startswith("KernelExplorer(")


def test_env_override_live_adds_widget_view(monkeypatch):
    monkeypatch.setenv("COURSE_WIDGETS", "live")
    ex = KernelExplorer()
    bundle = ex._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == ex.view.model_id
    assert bundle[WIDGET_VIEW]["version_major"] == 2
    assert "image/png" in bundle
    monkeypatch.setenv("COURSE_WIDGETS", "static")
    assert WIDGET_VIEW not in ex._repr_mimebundle_()


def test_quiz_fallback_is_a_png():
    q = Quiz([{"question": "Which?", "options": ["a", "b"], "answer": 1, "explain": "."}])
    picture = png_array(base64.b64decode(q._repr_mimebundle_()["image/png"]))
    assert picture.std() > 5


def test_importing_course_utils_does_not_import_ipywidgets():
    code = "import sys, course_utils, course_utils.widgets; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ipython_formatter_uses_the_bundle():
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(KernelExplorer())
    assert "image/png" in data and WIDGET_VIEW not in data  # no kernel -> static
    assert png_array(base64.b64decode(data["image/png"])).std() > 10


def test_png_encoder_round_trips_through_pillow():
    """The hand-written PNG encoder gives a valid file that decodes to exactly the pixels given."""
    import numpy as np

    from course_utils.widgets._frontend import png_bytes

    rng = np.random.default_rng(0)
    for shape in [(1, 1, 3), (7, 13, 3), (244, 691, 3)]:
        rgb = rng.integers(0, 256, size=shape, dtype=np.uint8)
        data = png_bytes(rgb)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert (png_array(data) == rgb).all(), shape
    flat = np.full((100, 200, 3), 255, dtype=np.uint8)
    assert len(png_bytes(flat)) < 2_000  # deflate still compresses: a white picture is tiny
