"""Code every Civicflow service shares, and the launcher of `make run`.

grpc_server.py and grpc_errors.py are a service's gRPC edge; database.py its engines and migrations;
settings.py and logs.py its configuration and logging; v1/ the generated stubs; launch/ runs it all locally.
"""
