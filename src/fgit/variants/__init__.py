"""Teacher-made and rule-based incorrect variants."""
