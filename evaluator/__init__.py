"""Stateless eligibility evaluator: one citizen at a time, or batches over a stream."""
