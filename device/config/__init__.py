"""The service configuration: the application's config models (app.py), board profile layers,
calibration and supervisor settings, and the generated reference. Above the components whose own
config classes it assembles."""
