"""Adapters: the event store recorders and transcoder, Kafka clients and topic administration."""
