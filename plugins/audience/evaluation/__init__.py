"""Evaluation of the pipeline's models against the synthetic world's planted truth."""
