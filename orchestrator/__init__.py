"""Interprets workflow templates, runs their steps and answers for their results."""
