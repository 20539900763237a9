"""`make bench`: end-to-end timings of Civicflow through its REST API, the system started as `make run` starts it."""
