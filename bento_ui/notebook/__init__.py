"""The composer inside Jupyter: `Composer`, an ipywidgets widget on the one send engine.

    from bento_ui.notebook import Composer
    composer = Composer()
    composer

It needs the `notebook` extra (`pip install 'bento-ui[notebook]'`, which adds ipywidgets);
`import bento_ui` never does. The logic lives in `bento_ui.notebook.state`, which imports
no ipywidgets; `bento_ui.notebook.composer` draws it.
"""

from __future__ import annotations

from bento_ui.errors import MissingExtraError

try:
    import ipywidgets
except ImportError as exc:  # the extra is not installed
    raise MissingExtraError(
        "The notebook composer needs ipywidgets, which is not installed: run "
        "pip install 'bento-ui[notebook]' (or pip install ipywidgets), then restart the "
        "kernel."
    ) from exc

if int(ipywidgets.__version__.split(".")[0]) < 8:
    raise MissingExtraError(
        f"The notebook composer needs ipywidgets 8 or later, not {ipywidgets.__version__}: "
        "run pip install 'bento-ui[notebook]' --upgrade, then restart the kernel."
    )

from bento_ui.notebook.composer import Composer

__all__ = ["Composer"]
