"""Reward-model training on exported shards (never the warehouse)."""
