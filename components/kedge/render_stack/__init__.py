"""`kedge render`: what a stack would create, written to a folder, with no cloud and no Pulumi CLI.

kedge's own program runs under Pulumi's public mocks (`pulumi.runtime.set_mocks`), with the
stack's settings read from its stack file; the mocks answer as Azure and Kubernetes would
(resource ids, an IoT Hub hostname, device keys of the right shape), so everything the program
derives from those answers is rendered too. Secrets are redacted unless asked for.
"""
