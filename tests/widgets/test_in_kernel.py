"""In a real Jupyter kernel (as nbval and the book build run it): one display with the widget view AND a PNG."""

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

VIEW = "application/vnd.jupyter.widget-view+json"
CODE = [
    "from course_utils.widgets import KernelExplorer, Quiz\nKernelExplorer(kernel='sobel_x')",
    "Quiz([{'question': 'q?', 'options': ['a', 'b'], 'answer': 0, 'explain': 'e'}])",
    "import os; os.environ['COURSE_WIDGETS'] = 'static'\nKernelExplorer(kernel='laplacian')",
]


def test_kernel_outputs_carry_png_and_widget_view(monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CODE]
    monkeypatch.delenv("COURSE_WIDGETS", raising=False)  # the kernel inherits this process's environment
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [c.outputs for c in nb.cells]
    for cell in outputs:
        assert len(cell) == 1 and cell[0].output_type == "execute_result"
        assert "image/png" in cell[0].data and "text/plain" in cell[0].data
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in cell)
    assert VIEW in outputs[0][0].data and VIEW in outputs[1][0].data  # a live front end gets the widget
    assert VIEW not in outputs[2][0].data  # COURSE_WIDGETS=static: picture only
    assert "widgets" in nb.metadata  # nbclient stores widget state: renderers that use it can show the last frame
