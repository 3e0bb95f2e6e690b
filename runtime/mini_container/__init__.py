"""mini-container: a compact Linux container runtime (namespaces, pivot_root, cgroups v1/v2, caps)."""

__version__ = "0.1.0"
