"""Benchmarks of the whole playground, kept apart from the app's packages (`make bench-*`)."""
