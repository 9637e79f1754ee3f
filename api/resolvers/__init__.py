"""Resolvers, one module per area; `api.schema` assembles them into the root types."""
