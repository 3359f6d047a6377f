"""Defaults and rules that the stack settings (kedge.config) and the components (kedge.azure, kedge.cluster)
share, declared once. Pure: no Pulumi, no settings, no components."""
