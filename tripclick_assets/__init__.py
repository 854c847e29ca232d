"""TripClick clickstream lakehouse as Dagster software-defined assets."""
