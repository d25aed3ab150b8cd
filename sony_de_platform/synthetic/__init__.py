"""Deterministic synthetic landing data: the three feeds of the data contract plus a manifest."""

from sony_de_platform.synthetic.generator import MANIFEST_FILE, generate_landing_data

__all__ = ["MANIFEST_FILE", "generate_landing_data"]
