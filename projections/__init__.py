"""Read models fed from the event log: tables, projections, queries, rebuild."""
