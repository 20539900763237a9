"""What a workflow is: template files parsed, checked against the task contracts, and served by id and version.

Entry point: registry.py (TemplateRegistry: every version, the current ones, reload); compiler.py checks one
document (problems.py names each problem), directory_scan.py reads the directory, watch.py re-reads it,
file_check.py checks files offline; model.py is a template file's shape, step_policy.py a step's retry,
timeout and tolerance.
"""
