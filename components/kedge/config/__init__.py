"""The stack settings: declared once, parsed and validated in pure code, read from Pulumi config."""
