"""Home Assistant MQTT discovery: retained configs so HA picks the device up with no hand setup."""

from __future__ import annotations

from .. import __version__
from .privacy import GatedPayload, gate
from .topics import HA_EVENT_ID, HA_EVENT_NAME, HA_EVENT_TEMPLATE, HA_EVENT_TYPES, HA_SENSORS, OFFLINE, ONLINE, DeviceTopics


def discovery_payloads(topics: DeviceTopics) -> list[tuple[str, GatedPayload]]:
    """One sensor per HA_SENSORS entry, reading the retained state topic, with availability; and
    one event entity that fires when a summary says a vocal event was heard."""
    device = {
        "identifiers": [f"affectedge_{topics.device}"],
        "name": f"affectedge {topics.device}",
        "manufacturer": "affectedge",
        "model": f"affectedge {__version__}",
    }
    out = []
    for object_id, (name, template) in HA_SENSORS.items():
        fields = {
            "name": name,
            "unique_id": f"affectedge_{topics.device}_{object_id}".replace("-", "_"),
            "state_topic": topics.state,
            "value_template": template,
            "availability_topic": topics.status,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": device,
        }
        out.append((topics.discovery(object_id), gate("ha_discovery", fields)))
    fields = {
        "name": HA_EVENT_NAME,
        "unique_id": f"affectedge_{topics.device}_{HA_EVENT_ID}".replace("-", "_"),
        "state_topic": topics.summary,
        "value_template": HA_EVENT_TEMPLATE,
        "event_types": list(HA_EVENT_TYPES),
        "availability_topic": topics.status,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
    }
    out.append((topics.discovery(HA_EVENT_ID, "event"), gate("ha_discovery", fields)))
    return out
