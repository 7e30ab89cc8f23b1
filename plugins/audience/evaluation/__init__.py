"""Evaluation of the segmentation layer against a synthetic world's planted truth."""
