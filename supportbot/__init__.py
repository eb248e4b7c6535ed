"""Composition root of supportbot: settings and the ``supportbot`` command line.

Nothing outside this package imports it.
"""

__version__ = "0.1.0"
