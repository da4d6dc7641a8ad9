"""natsd: a NATS server with JetStream, in Python."""

__version__ = "0.1.0"

