"""The ``sepconv`` command line: a thin layer over ``converter`` (and ``service`` for ``serve``).

``main`` assembles the parser and handles errors, ``args`` holds the argument groups commands share,
``cmd_<name>`` is one command each (its subparser and its run), ``tables`` renders results for people.
"""
