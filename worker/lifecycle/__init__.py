"""A job's lifecycle: claim, lease, outcome, errors, database retry."""
