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
