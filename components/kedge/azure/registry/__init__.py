"""The out-of-process registry helpers pulumi-command runs: identities and deployments, over one client."""
