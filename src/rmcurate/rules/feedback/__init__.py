"""WildReward's steps as pure functions: language, prefilter, refusal, filters, mining, labels.

No judge calls and no DuckDB here: stages/label.py feeds turns in and writes
what these decide.
"""
