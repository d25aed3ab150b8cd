"""Data quality: Data Metric Functions defined once (dmfs.yml), their asset checks and
results history, the Bronze volume check, the hourly DMF schedule and on-call alerts."""
