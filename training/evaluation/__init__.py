"""Quality report of a trained bundle on held-out template-cohort subjects."""
