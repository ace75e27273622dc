"""Development-environment helpers, such as a local control plane for integration tests."""
