"""Audience segmentation platform: the Python package behind the DAGs, dbt and the CLI."""

__version__ = "0.1.0"
