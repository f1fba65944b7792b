"""Pure steps of an export: near-duplicate removal and the train/test split."""
