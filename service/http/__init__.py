"""The HTTP layer: the FastAPI app (:mod:`.app`), one router per resource (:mod:`.routes`), the request and
response bodies (:mod:`.schemas`), the API key (:mod:`.security`), the checks that turn a request that cannot
work into a 4xx (:mod:`.request_checks`) and the web page's files (``static/``)."""
