"""The running service: assembly of the pipeline from a config, the pipeline loop, the daemon, the
supervisor (watchdog and restarts), sd_notify, doctor and memory trimming."""
