"""Bluetooth LE physiological sensors: profiles as data, total payload parsers, transports, reconnects.

Data flows one way: a transport delivers raw notifications, a SensorLink stamps them on arrival and
runs them through the profile's decoder, and the BLE source hands the samples to the pipeline.
"""
