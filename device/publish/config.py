"""The `publish:` config section (kept beside the code it configures; no heavy imports)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..core.config_base import ConfigPath, StrictModel

_TOPIC_LEVELS = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class MqttTlsConfig(StrictModel):
    ca_file: ConfigPath = Field(description="PEM file of the CA that signed the broker's certificate; the broker is verified against it (and its host name).")
    cert_file: Optional[ConfigPath] = Field(None, description="This device's client certificate (PEM), for a broker that requires one (a fleet site: `affectedge fleet provision` issues it).")
    key_file: Optional[ConfigPath] = Field(None, description="The client certificate's private key (PEM, mode 0600).")

    @model_validator(mode="after")
    def _pair(self) -> "MqttTlsConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file come together")
        return self


class PublishConfig(StrictModel):
    host: str = Field(description="MQTT broker host name or address.")
    port: Optional[int] = Field(None, ge=1, le=65535, description="Broker port; default 8883 with tls, 1883 without.")
    tls: Optional[MqttTlsConfig] = Field(None, description="TLS to the broker; omit only on a trusted loopback or LAN.")
    username: Optional[str] = Field(None, description="MQTT user name (the broker's ACL should let it write only this device's topics).")
    password_file: Optional[ConfigPath] = Field(None, description="File holding the MQTT password (first line). Never put the password itself in the config; it is never logged.")
    prefix: str = Field("affectedge", description="First topic level; topics are `<prefix>/<device.id>/...` (see docs/mqtt.md).")
    period_s: float = Field(5.0, ge=1.0, le=3600.0, description="Summary period in seconds of the source clock (at least 1 s). Can be changed at run time over the `set` topic.")
    outbox: ConfigPath = Field(Path("affectedge-outbox.sqlite"), validate_default=True, description="Store-and-forward outbox (SQLite, WAL). A summary leaves it only after the broker's PUBACK; relative paths are relative to the config file.")
    outbox_max_messages: int = Field(100_000, ge=10, description="Outbox bound; past it the oldest summary is dropped and the drop is counted and reported in the next summary. 100000 x 5 s is about 5.8 days of outage.")
    pseudonym_secret_file: ConfigPath = Field(Path("affectedge-pseudonym.secret"), validate_default=True, description="Per-device secret for the subject pseudonym HMAC-SHA256(secret, device.subject_id). Created (0600, random) if missing; keep it to keep the pseudonym stable.")
    zone_dp_epsilon: Optional[float] = Field(None, gt=0.0, le=10.0, description="Local differential privacy on the zone: randomised response with this epsilon. Off when omitted. When on, valence, arousal, top emotion, zone shares and zone-change events (which reveal the true zone) are left out of summaries. See docs/mqtt.md.")
    homeassistant_discovery: bool = Field(False, description="Publish retained Home Assistant MQTT discovery configs for zone, valence, arousal and confidence.")
    homeassistant_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix.")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive; the broker publishes the `offline` last will after about 1.5x this without traffic.")
    drain_timeout_s: float = Field(3.0, ge=0.0, le=600.0, description="On shutdown with the broker connected, how long to wait for the outbox to drain before leaving the rest (on disk) for the next start. With the broker unreachable the service does not wait. Keep it well under the unit's TimeoutStopSec (10 s).")

    @field_validator("prefix", "homeassistant_prefix")
    @classmethod
    def _topic_levels(cls, v: str) -> str:
        if not _TOPIC_LEVELS.fullmatch(v):
            raise ValueError("must be topic levels of A-Z, a-z, 0-9, '_', '-' separated by '/', no wildcards, no leading or trailing '/'")
        return v

    @model_validator(mode="after")
    def _password_needs_user(self) -> "PublishConfig":
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (8883 if self.tls else 1883)
