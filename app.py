"""Bento Event Composer: the Streamlit entry point.

Sets the page, draws the connection sidebar (where events go) on every page, and runs
the page chosen in the navigation. Served beyond this computer with live keys
configured, it first asks for the access password (`ui/access.py`). The pages are in
`app_pages/` (not `pages/`: Streamlit treats a `pages/` folder as the old multipage
layout and would run a page without this file on a first visit to its URL), the shared
layout in `ui/`, and everything that is not layout in the `bento_ui` library.
"""

import logging

import streamlit as st

from ui.access import gate
from ui.connection import sidebar
from ui.keep import remember_choices, restore_choices
from ui.widgets import fit_small_screens

st.set_page_config(
    page_title="Bento Event Composer",
    page_icon=":material/send:",
    layout="wide",
    initial_sidebar_state="expanded",
)

if not gate():  # before anything else: no page, no sidebar, no site UUID
    st.stop()
fit_small_screens()

compose = st.Page("app_pages/compose.py", title="Compose", icon=":material/edit_note:",
                  default=True)
upload = st.Page("app_pages/upload.py", title="Upload a spreadsheet",
                 icon=":material/upload_file:")
inbox = st.Page("app_pages/sandbox_inbox.py", title="Sandbox inbox", icon=":material/inbox:")
history = st.Page("app_pages/history.py", title="Send history", icon=":material/history:")
page = st.navigation({"Bento Event Composer": [compose, upload, history, inbox]})
name = "compose" if page is compose else "upload" if page is upload else page.title
restore_choices(name)  # what the person chose here before going to another page

try:
    sidebar(inbox_page=inbox)
    page.run()
except Exception:  # the last net: people see a sentence, the log keeps the details
    logging.getLogger("bento_ui.app").exception("Unexpected error on %s", page.title)
    st.error(
        "Something unexpected went wrong on this page. Your data is still here: try "
        "again, and if it happens again, the details are in the app's log."
    )
finally:  # also when the run is cut short: st.stop, a rerun, leaving the page mid-send
    remember_choices(name)
