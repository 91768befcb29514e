"""Privacy building blocks: keyed pseudonyms and session-log encryption. The publish whitelist
lives in publish/privacy.py, beside the one path that sends."""
