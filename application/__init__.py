"""The application layer: the unit of work, the commands and reads of the write
model, the pledge desk and the audit reads. It depends on the domain only."""
