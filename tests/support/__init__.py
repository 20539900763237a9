"""Helpers the tests share; fixtures stay in conftest.py files and build on these.

credentials (the certificate authority, token issuer, settings, channels and tokens every test crosses
the trust boundary with; start there), bad_tokens (tokens that must prove nothing), background_loop
(servers on loopback), orchestrators and evaluator_processes (extra replicas and real processes), stacks
(a database, audit log and orchestrator of a test's own), impact_results and eligibility_oracle (stored
results and the rule to check them against), rest_api, audit_records (also entries planted behind the
audit service's back) and audit_stubs, offline_verifier, process_tree, service_settings, and
docs_examples (how the docs' examples are read and their answers matched).
"""
