"""Trade-off comparisons: the compare form (form), which runs measure what and what they showed
as the course's table (measurements), its charts (charts) and its page (views)."""
