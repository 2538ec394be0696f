"""Build the optional compiled reader of plain batches (``mojinorm._speedups``).

Everything else is in pyproject.toml.  ``optional=True``: where no C compiler is found the
install goes on without it, and mojinorm reads every batch with polars instead (same results,
slower scans).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mojinorm._speedups", ["src/mojinorm/_speedups.c"],
                             optional=True)])
