"""`civicflow`: the command-line client of the Civicflow REST API, for people at a terminal and for scripts."""
