"""A modular voice assistant pipeline: typed messages on a bus, stages as plugins."""

__version__ = "0.1.0"
