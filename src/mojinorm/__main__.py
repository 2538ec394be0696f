"""``python -m mojinorm``: the ``mojinorm`` command."""

from .cli import main

main()
