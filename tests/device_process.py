"""A device publishing from its own process, so a test can kill -9 it (the broker then sends the last will).

Usage: python device_process.py CONFIG_JSON N_WINDOWS; prints "drained" once everything is acknowledged.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from affectedge.publish.config import PublishConfig  # noqa: E402
from affectedge.publish.sink import PublishSink  # noqa: E402
from publish_fixtures import DEVICE, fused_windows  # noqa: E402

cfg = PublishConfig.model_validate(json.loads(Path(sys.argv[1]).read_text()))
sink = PublishSink(cfg, DEVICE, "subject-1")
for w in fused_windows(int(sys.argv[2])):
    sink.write_window(w, ())
sink.publisher.wait_drained(30)
print("drained", flush=True)
time.sleep(3600)  # until killed
