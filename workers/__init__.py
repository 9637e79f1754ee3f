"""Long-running workers (relay, projections, scheduler) and the broker they talk to."""
