"""Evaluations: how close the warehouse (after the pipeline ran) comes to a synthetic world's planted truth."""
