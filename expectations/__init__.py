"""Great Expectations suites as Python, one module per mart.

Each module defines ``SCHEMA``, ``TABLE``, ``SUITE_NAME`` and ``build_suite()``;
``audience.quality.gx.run_gate()`` runs every module found here.
"""

from audience.quality.gx import quiet_gx

# suite modules import great_expectations, which logs at INFO while it loads
quiet_gx()
