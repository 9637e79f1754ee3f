"""The HTTP/GraphQL API: Strawberry schema served by Starlette."""
