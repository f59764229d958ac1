"""The ``sepconv`` command line: a thin layer over ``converter`` (and ``service`` for ``serve``)."""
