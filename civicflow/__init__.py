"""Code shared by the Civicflow services: generated stubs, process runtime, database plumbing."""
