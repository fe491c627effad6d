"""Fixtures of the results tests; they live in :mod:`results_studies` (a unique module name)."""

from results_studies import make_study, only_results_commands, study_templates

__all__ = ["make_study", "only_results_commands", "study_templates"]
