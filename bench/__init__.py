"""`make bench`: end-to-end timings of Civicflow through its REST API, with the system started as `make run` starts it."""
