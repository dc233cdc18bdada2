"""Service analytics: metrics from the event store, reports, weekly review."""
