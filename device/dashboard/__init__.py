"""The caregiver dashboard: a static page (shipped in static/) that reads the MQTT feed over WebSockets."""
