"""Scheme rules as data: the document a scheme version is, its expression language, and its compiled forms.

Shared by the orchestrator, which checks and stores documents, and the evaluator, which decides
citizens under them. docs/rules.md is the reference for authors. A reader starts at document.py
(parse_document: schema.py's shape, then checker.py's types into expressions.py's trees) and
compiled.py (compile_rules: scalar.py for one citizen, vectorised.py and lookup_tables.py for columns).
"""
