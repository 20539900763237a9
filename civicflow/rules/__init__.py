"""Scheme rules as data: the document a scheme version is, its expression language, and its compiled forms.

Shared by the orchestrator, which checks and stores documents, and the evaluator, which decides
citizens under them. docs/rules.md is the reference for authors.
"""
