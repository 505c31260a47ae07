"""Streamlit layout shared by the pages (the sidebar, the send panel, small widgets).

Only this package, `app.py` and `pages/` import streamlit; the logic lives in `bento_ui`.
"""
