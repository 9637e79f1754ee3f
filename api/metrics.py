"""Prometheus metrics of one API instance (own registry: several apps per process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crowdfund_http_requests", "HTTP requests by route and status class.",
            ["route", "status"], registry=self.registry,
        )
        self.operations = Counter(
            "crowdfund_graphql_operations", "GraphQL operations by type and outcome.",
            ["operation", "outcome"], registry=self.registry,
        )
        self.pledge_latency = Histogram(
            "crowdfund_pledge_seconds", "Time to decide and store one pledge.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.head_position = Gauge(
            "crowdfund_event_log_head_position", "Position of the last stored event.",
            registry=self.registry,
        )
        self.projections_position = Gauge(
            "crowdfund_projections_applied_position",
            "Position every read model has applied.", registry=self.registry,
        )
        self.projection_lag = Gauge(
            "crowdfund_projection_lag_events",
            "Events stored but not yet applied by every read model (head - applied).",
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "crowdfund_active_subscriptions", "Open campaignProgress subscriptions.",
            registry=self.registry,
        )

    def observe_positions(self, head: int, applied: int) -> None:
        self.head_position.set(head)
        self.projections_position.set(applied)
        self.projection_lag.set(max(0, head - applied))

    def render(self) -> bytes:
        return generate_latest(self.registry)
