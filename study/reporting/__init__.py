"""What a study says: status, `run`'s summary, the report (text, Markdown, figures) and the
artifacts the dashboard shows."""
