"""affectedge: on-device affect sensing for caregivers.

Data flows one way: sources -> perception -> fusion -> sinks (log, publish).
"""

__version__ = "0.1.0"
