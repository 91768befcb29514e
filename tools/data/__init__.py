"""Data builders: the demo session, the still-face evaluation set, the event-response study, and
the packages they take recordings from."""
