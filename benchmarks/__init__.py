"""Benchmarks of the assistant's bus and start-up time, with a Pipecat baseline."""
