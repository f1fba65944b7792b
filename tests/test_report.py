"""The report's warnings about test splits that cannot carry their metric."""
from rmcurate.warehouse.report import MIN_TEST_ROWS, split_warnings


def manifest(rows: int, labels: dict) -> dict:
    return {"splits": {"train": {"rows": 500, "labels": {"0": 250, "1": 250}}, "test": {"rows": rows, "labels": labels}}}


def test_small_empty_and_single_class_test_splits_are_named():
    warnings = split_warnings({
        "trl": manifest(12, {"rmboost": 12}),  # one origin is fine for pairwise accuracy, 12 rows are not
        "ordinal": manifest(400, {"4": 400}),
        "implicit": manifest(0, {}),
        "openrlhf": manifest(MIN_TEST_ROWS, {"rmboost": 30, "natural": 20}),
    })
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("trl: 12 test rows") and "±28%" in warnings[0]
    assert warnings[1] == "ordinal: every test row has label 4, so rank metrics (AUC, Spearman) are undefined"
    assert warnings[2] == "implicit: no test rows, so nothing trained on it is measured"
