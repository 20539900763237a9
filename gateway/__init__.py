"""REST gateway: translates the public REST contract into calls on the orchestrator's gRPC API."""
