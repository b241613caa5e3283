"""A real local argilla-server 2.8.0 for development, demos and tests.

Argilla needs Elasticsearch or OpenSearch, which cannot run here; `sql_engine` is a search-engine
plugin that answers every search from the server's own SQL database instead. `install` builds
the server's separate venv, `launch` serves it (and its rq worker) with the plugin loaded and
starts/stops the whole local stack. Only `sql_*` modules import argilla_server: they run in
the server's venv; the rest is standard library and runs anywhere.
"""
