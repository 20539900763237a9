"""What a workflow is: template files parsed, checked against the task contracts, and served by id.

Entry point: registry.py (TemplateRegistry.load_directory); model.py is a template file's shape,
step_policy.py a step's retry, timeout and tolerance, schemes.py the schemes' rules.
"""
