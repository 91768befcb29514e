"""Every MQTT topic string affectedge uses (the dashboard feed contract; see docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"

# Home Assistant entities published by discovery: object id -> (name, template on the state topic).
HA_SENSORS: dict[str, tuple[str, str]] = {
    "zone": ("Zone", "{{ value_json.zone }}"),
    "valence": ("Valence", "{{ value_json.valence.mean if value_json.valence else none }}"),
    "arousal": ("Arousal", "{{ value_json.arousal.mean if value_json.arousal else none }}"),
    "confidence": ("Confidence", "{{ value_json.confidence }}"),
}


# The Home Assistant event entity for vocal events: it reads every summary (the non-retained
# topic: HA discards replayed retained messages for events) and fires with the most urgent event
# the period heard (distress before shouting before laughter); a summary with none renders "{}",
# which HA ignores.
HA_EVENT_ID = "vocal_event"
HA_EVENT_NAME = "Heard"
HA_EVENT_TYPES = ("distress", "shouting", "laughter")
HA_EVENT_TEMPLATE = (
    "{% set e = value_json.vocal_events or {} %}"
    "{% set k = " + repr(list(HA_EVENT_TYPES)) + " | select('in', e) | list %}"
    "{{ {'event_type': k[0], 'confidence': e[k[0]].confidence, 'seconds': e[k[0]].seconds} | tojson if k else '{}' }}"
)


@dataclass(frozen=True)
class DeviceTopics:
    prefix: str
    device: str
    ha_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device}"

    @property
    def status(self) -> str:
        """`online`/`offline`, retained; `offline` is the last will."""
        return f"{self.base}/status"

    @property
    def summary(self) -> str:
        """Every summary, in order, QoS 1, not retained."""
        return f"{self.base}/summary"

    @property
    def state(self) -> str:
        """The latest summary, retained, so a new subscriber sees the present at once."""
        return f"{self.base}/state"

    @property
    def settings(self) -> str:
        """Current pause state and period (retained), republished after every command."""
        return f"{self.base}/settings"

    @property
    def command(self) -> str:
        """Commands to the device: pause, resume, period change."""
        return f"{self.base}/set"

    @property
    def label(self) -> str:
        """Caregivers' labels pressed live (publish/labels.py); only the caregiver role may write it."""
        return f"{self.base}/label"

    @property
    def label_ack(self) -> str:
        """The device's answer to each label: stored, duplicate or refused (with a fixed reason)."""
        return f"{self.base}/label/ack"

    def discovery(self, object_id: str, component: str = "sensor") -> str:
        return f"{self.ha_prefix}/{component}/{self.device}/{object_id}/config"


def all_devices_filter(prefix: str) -> str:
    """What a dashboard subscribes to."""
    return f"{prefix}/+/+"
