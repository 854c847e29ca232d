"""The log replay producer: one process per web server, run locally or in a container."""
