"""Pure decisions on text and rows: PII scrubbing, feedback cues and WildReward's filters, RMBoost's
rules, dedup and the split. No DuckDB, no judge calls, no Prefect."""
