"""One request object per task, validated and resolved against the bundle's defaults. No torch."""
