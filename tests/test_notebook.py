"""The example notebook runs top to bottom, as an analyst would run it."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_notebook_runs_top_to_bottom() -> None:
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        o.get("text", "")
        + "".join(o.get("data", {}).get(kind, "") for kind in ("text/plain", "text/html"))
        for o in outputs
    )
    assert "email 'carol@example' has a domain without a dot" in text
    assert "batch 1/2" in text and "accepted" in text


def test_composer_notebook_runs_top_to_bottom_and_shows_the_widget() -> None:
    notebook = nbformat.read(EXAMPLES / "composer.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json"
                    in o.get("data", {})]  # fmt: skip
    assert len(widget_views) == 1  # the Composer, drawn by the notebook's frontend
    assert "Bento event composer" in str(notebook.metadata.get("widgets", ""))
