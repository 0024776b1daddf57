"""The ``docpipe`` developer tooling: the command line and the Docker-free local stack (not Lambda code)."""
