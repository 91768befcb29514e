"""`affectedge calibrate`: sensor checks and a resting baseline for one person on one device.

Data flows one way: the calibration reads sources through the same pipeline as the service (so a
live sensor and a replayed recording behave alike), measures, and writes a baseline profile that
the service later reads (affectedge.perception.baseline). Nothing here is imported by the service.
"""
