"""The policy pack's entry point. Building a PolicyPack starts its server: only here, never on import."""

from pulumi_policy import PolicyPack

from kedge_policies import POLICIES

PolicyPack("kedge", enforcement_level="mandatory", policies=POLICIES)
