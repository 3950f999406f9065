"""Findings: rules (one small function each), the sweep that opens and resolves them, and their pages."""
