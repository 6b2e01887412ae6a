"""Next-edit prediction: from the user's recent edits to the edit that follows (region,
prompt formats, minimal edits, rejection rules). See service.py."""
