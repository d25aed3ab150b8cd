"""CDC: streams on RAW tables, the PII routing that consumes them, their sensors, and the
check that no clear PII lives outside RAW and SECURE."""
