"""Review and export across devices: DuckDB over the collector's Parquet dataset.

`affectedge review DATASET` and `affectedge export DATASET` take the collector's folder
(``device=<id>/day=<date>/*.parquet``) as well as session logs. DuckDB is the query engine
(the ``fleet`` extra): filters by device, subject pseudonym and clock-time range run in SQL over
the partitioned files, and the report shows one row per device.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

from ..core.extras import require_module
from ..core.types import MODALITIES, ZONES


def is_dataset(path: Path) -> bool:
    """A collector dataset: a folder with device=<id>/ partitions."""
    return Path(path).is_dir() and any(Path(path).glob("device=*/day=*/*.parquet"))


def query(dataset: Path, sql_select: str, devices: Sequence[str] = (), subject: Optional[str] = None,
          t_from: Optional[datetime] = None, t_to: Optional[datetime] = None, group_by: str = "", order_by: str = ""):
    """Run ``SELECT <sql_select> FROM <dataset> WHERE <filters> [GROUP BY] [ORDER BY]`` with DuckDB;
    returns (column names, rows). Filter values are bound as parameters, never pasted into SQL."""
    duckdb = require_module("duckdb", "review across devices", "fleet")
    where, params = [], []
    if devices:
        where.append(f"device IN ({', '.join('?' for _ in devices)})")
        params += list(devices)
    if subject is not None:
        where.append("subject = ?")
        params.append(subject)
    if t_from is not None:
        where.append("CAST(created_utc AS TIMESTAMPTZ) >= ?")
        params.append(t_from)
    if t_to is not None:
        where.append("CAST(created_utc AS TIMESTAMPTZ) < ?")
        params.append(t_to)
    files = str(Path(dataset) / "device=*" / "day=*" / "*.parquet")
    sql = (f"SELECT {sql_select} FROM read_parquet(?, hive_partitioning = true)"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + (f" GROUP BY {group_by}" if group_by else "") + (f" ORDER BY {order_by}" if order_by else ""))
    con = duckdb.connect()
    try:
        cur = con.execute(sql, [files, *params])
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


PER_DEVICE = (
    "device, count(*) AS summaries, count(DISTINCT subject) AS subjects, min(created_utc) AS first_utc, "
    "max(created_utc) AS last_utc, sum(windows) AS windows, sum(windows_with_data) AS windows_with_data, "
    + ", ".join(f"avg(zone_share_{z}) AS {z}_share" for z in ZONES) + ", "
    "avg(valence_mean) AS valence, avg(arousal_mean) AS arousal, avg(confidence) AS confidence, "
    + ", ".join(f"avg(coverage_{m}) AS {m}_coverage" for m in MODALITIES)
)


def per_device(dataset: Path, **filters) -> tuple[list[str], list[tuple]]:
    return query(dataset, PER_DEVICE, group_by="device", order_by="device", **filters)


def render_html(dataset: Path, columns: list[str], rows: list[tuple], filters: dict) -> str:
    """A self-contained page: one row per device (zones' shares, valence, arousal, confidence, coverage)."""
    def cell(v) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}"
        return html.escape(str(v))

    shown = {k: v for k, v in filters.items() if v}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(f'<tr data-device="{html.escape(str(r[0]))}">' + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>affectedge site review</title>'
            "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
            "th,td{padding:.25em .6em;border-bottom:1px solid #e5e7eb;text-align:right}th:first-child,td:first-child{text-align:left}</style>"
            f"</head><body><h1>Site review</h1><p>{html.escape(str(dataset))}; {len(rows)} device(s)"
            + (f"; filters: {html.escape(str(shown))}" if shown else "") + "</p>"
            + "<p>Per device, over its summaries (5 s periods by default): the mean share of each zone, mean valence and "
              "arousal (-1..+1), mean confidence and the share of windows each modality contributed to.</p>"
            + f'<table id="devices"><tr>{head}</tr>{body}</table></body></html>\n')
