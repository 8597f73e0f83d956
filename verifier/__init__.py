"""hedui's service: the API and commands, the pipeline, the assessment, the report and the storage.

Read docs/architecture.md for the rooms and where to change what.
"""

import os

# Issue 13 (review S10): gRPC's core logs every failed TLS handshake at INFO, one line each, for anyone who
# connects; hedui's processes keep its errors only (read when gRPC initialises: before grpc is imported). An
# operator who wants the lines back sets GRPC_VERBOSITY=INFO (docs/access.md).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
