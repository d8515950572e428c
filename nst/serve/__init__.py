"""The studio (``nst serve``): a web page where a person makes a picture and watches it form.

``app`` serves the page and a JSON API over jobs; ``store`` keeps the jobs (SQLite records and
files, across restarts); ``workers`` runs them, one at a time per device; ``runner`` is the
studio's one door into the engine. Needs the ``web`` extra (FastAPI, uvicorn).
"""
