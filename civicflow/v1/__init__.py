"""Generated gRPC stubs; run `make proto` after changing protos/."""
