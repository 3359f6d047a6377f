"""Pure renderers: no Pulumi, no stack settings. Text and names in, text and names out."""
