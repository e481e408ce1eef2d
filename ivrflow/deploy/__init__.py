"""The deploy engine shared by every target: plans (what to create, change and
delete), applying them with retries that are safe to repeat, and exit codes."""
