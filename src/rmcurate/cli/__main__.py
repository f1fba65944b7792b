"""`python -m rmcurate.cli`, as the `rmcurate` command."""
from rmcurate.cli import cli

cli()
