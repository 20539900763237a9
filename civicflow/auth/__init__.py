"""Who a caller is and what it may do: bearer tokens for people, one table of permissions, the local issuer.

Entry points: tokens.py (TokenVerifier: a token to a Principal), access.py (authorize: the one
function every REST route and RPC goes through), local_issuer.py (tokens for development and tests).
"""
