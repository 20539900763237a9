"""Code every Civicflow service shares, and the launcher of `make run`.

grpc_server.py, grpc_errors.py and unreadable_requests.py are a service's gRPC edge, input_limits.py what every
client value is held to; database.py its engines and migrations; settings.py and logs.py its configuration and
logging; v1/ the generated stubs; launch/ runs it all locally.
"""
