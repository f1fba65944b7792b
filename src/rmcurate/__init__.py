"""rmcurate: reward-model training data from what chat users do.

The package is layered; a module imports only from its own layer or lower ones, and packages that
share a layer do not import each other (pyproject.toml's import contract, tests/test_layers.py):

    cli          the `rmcurate` command, one module per command group
    flows        the Prefect nightly: tasks, retries, scale-out on Dask
    stages       what the nightly does, step by step: label, pairs, export, train, judge eval
    judges | warehouse | trainer
                 LLM clients and the embedded server | every byte on disk (DuckDB, Parquet) |
                 reward-model training on export folders
    settings     every RMCURATE_* variable
    readers | rules | prompts
                 files to Arrow tables | pure decisions (PII, cues, dedup, RMBoost) | judge templates
    schemas      the contracts: records, tables, exports, judge requests
"""
