"""Azure layer: IoT Hub, IoT Edge device identities and AKS. Knows nothing of the in-cluster layer."""
