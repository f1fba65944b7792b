"""Pair building: RMBoost conditions, strict parsing of generations, validation."""
