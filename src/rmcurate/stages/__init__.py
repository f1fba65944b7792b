"""The nightly's steps as plain functions (label, pairs, export, train, judge eval), callable from the
CLI one at a time or from the Prefect flow in order. Each opens what it needs and returns a summary."""
