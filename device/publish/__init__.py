"""Publishing: fused windows -> summaries -> one privacy gate -> on-disk outbox -> MQTT.

Nothing here imports paho at module level; the MQTT client loads it when a publisher starts.
"""
