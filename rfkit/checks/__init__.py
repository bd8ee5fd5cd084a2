"""Checks on a traced model: budgets (`budget`), the audit of documented tables against the
model (`audit`, `docparse`) and the gradient oracle for RFs (`verify`). Imports
rfkit.checks, rfkit.analysis, rfkit.output and rfkit.errors, never train or the CLI."""
