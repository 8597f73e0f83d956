"""Generated gRPC API of hedui (package hedui.v1)."""
