"""Applications built on the core: each is one module here, using ``deepae``'s public names.

The core (``models``, ``train``, ``data``) never imports this package.
"""
