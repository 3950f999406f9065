"""Auditor evidence: the control catalogue, evidence packs that verify, and sampling helpers."""
