"""The stack settings: declared once, parsed and validated in pure code (no Pulumi; read through kedge.wiring.pulumi_source)."""
