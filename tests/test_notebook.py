"""notebooks/quickstart.ipynb runs top to bottom (here on its untrained fallback model)."""

import nbformat
import pytest
from conftest import REPO_ROOT
from nbclient import NotebookClient

from pose3d_jax import checkpoint

NOTEBOOK = REPO_ROOT / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    # No checkpoint at the default place: the notebook must build its labelled fallback.
    monkeypatch.setenv(checkpoint.DEFAULT_CHECKPOINT_ENV, str(tmp_path / "no_checkpoint"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    text = "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "FALLBACK" in text and "UNTRAINED" in text
    assert text.count(" mm") >= 16  # one line per joint
    images = [
        output for output in notebook.cells[5].outputs if "image/png" in output.get("data", {})
    ]
    assert images, "the figure cell shows a PNG"
