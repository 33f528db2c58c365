"""The web side of the runtime (the ``web`` extra): a page and JSON API over ``ser_edge.load()``, served by ``ser-edge serve``.

``app.create_app`` builds the Starlette application: ``upload`` receives files
into size-limited temporary files, ``workers`` scores them in worker
processes, ``live`` shares one audio source among Server-Sent-Event clients,
``guard`` checks the Host header and the token, ``page`` serves the one page.
"""
