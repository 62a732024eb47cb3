"""Deployment beyond one machine: Kubernetes manifests (k8s_build) and the capacity model."""
