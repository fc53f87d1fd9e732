"""The numbers of the answer: statistics (pure), effects, importance."""
