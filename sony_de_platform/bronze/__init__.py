"""Bronze: landing files -> RAW tables, with a load ledger and a quarantine."""
