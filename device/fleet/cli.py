"""`affectedge fleet ...`: provisioning a site (docs/fleet.md)."""

from __future__ import annotations

from pathlib import Path


def cmd_provision(args) -> int:
    from .provision import provision

    r = provision(args.site, args.devices or [], args.broker_host, args.port, args.prefix, args.rotate or [])
    # Names and paths only: never a secret.
    print(f"site {r.site}: {len(r.added)} added, {len(r.kept)} kept unchanged, {len(r.rotated)} rotated")
    for d in r.added + r.rotated:
        print(f"  {d}: {r.site / 'devices' / d}/ (client.crt, client.key, password, ca.crt, affectedge.yaml)")
    print(f"broker: {r.site / 'broker'}/mosquitto.conf (passwd, acl, server.crt); services: {r.site / 'services'}/")
    return 0


def cmd_collect(args) -> int:
    import signal

    from .collector import Collector

    password = args.password_file.read_text().splitlines()[0] if args.password_file else None
    tls = None
    if args.ca_file:
        tls = {"ca_certs": str(args.ca_file), "certfile": str(args.cert_file) if args.cert_file else None,
               "keyfile": str(args.key_file) if args.key_file else None}
    c = Collector(args.out, args.host, args.port, args.prefix, args.group, args.client_id, args.username, password, tls,
                  args.flush_s)
    signal.signal(signal.SIGTERM, lambda *_: c.stop())
    signal.signal(signal.SIGINT, lambda *_: c.stop())
    c.start()
    print(f"collecting {args.prefix}/+/summary from {args.host}:{args.port} (shared group {args.group}) into {args.out}", flush=True)
    c.run()
    s = c.stats
    print(f"received {s.received}, written {s.written}, duplicates {s.duplicates}, invalid {s.invalid} (kept in {args.out}/invalid)", flush=True)
    return 0


def add_parsers(sub) -> None:
    f = sub.add_parser("fleet", help="a fleet of devices at one site: provisioning (docs/fleet.md)")
    fs = f.add_subparsers(dest="fleet_command", required=True)
    p = fs.add_parser("provision", help="site CA, broker credentials and ACL, and one identity and config snippet per device")
    p.add_argument("--site", type=Path, required=True, help="the site folder (created, or extended on a rerun)")
    p.add_argument("--devices", nargs="*", default=None, metavar="ID", help="device ids to add (existing ones are kept unchanged)")
    p.add_argument("--rotate", nargs="*", default=None, metavar="ID", help="issue these devices new keys, certificates and passwords")
    p.add_argument("--broker-host", default="localhost", help="the central broker's host name (in its certificate and the devices' configs)")
    p.add_argument("--port", type=int, default=8883, help="the broker's TLS port (default 8883)")
    p.add_argument("--prefix", default="affectedge", help="topic prefix (default affectedge)")
    p.set_defaults(func=cmd_provision)

    c = sub.add_parser("collect", help="every device's summaries into one Parquet dataset by device and day (MQTT 5 shared subscription)")
    c.add_argument("--out", type=Path, required=True, help="the dataset folder (device=<id>/day=<date>/...)")
    c.add_argument("--host", default="localhost")
    c.add_argument("--port", type=int, default=8883)
    c.add_argument("--prefix", default="affectedge")
    c.add_argument("--group", default="collectors", help="shared-subscription group: collectors in one group split the load")
    c.add_argument("--client-id", default="affectedge-collector", help="unique per collector; kept across restarts (the broker keeps its session)")
    c.add_argument("--username", default=None)
    c.add_argument("--password-file", type=Path, default=None)
    c.add_argument("--ca-file", type=Path, default=None, help="TLS: the site CA")
    c.add_argument("--cert-file", type=Path, default=None, help="TLS: this collector's client certificate")
    c.add_argument("--key-file", type=Path, default=None)
    c.add_argument("--flush-s", type=float, default=2.0, help="write buffered rows at least this often (seconds)")
    c.set_defaults(func=cmd_collect)
