"""Helpers the tests share; fixtures stay in conftest.py files and build on these.

background_loop (servers on loopback), orchestrators and evaluator_processes (extra replicas and
real processes), impact_results and eligibility_oracle (stored results and the rule to check them
against), rest_api, audit_records, offline_verifier, process_tree, service_settings, and
docs_examples (how the docs' examples are read and their answers matched).
"""
