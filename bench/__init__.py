"""Benchmarks: each prints figures as ratios against a peer measured in the same run."""
