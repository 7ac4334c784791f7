"""Response filter backends."""
