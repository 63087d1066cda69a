"""Alignment metrics and gold word-alignment readers."""
