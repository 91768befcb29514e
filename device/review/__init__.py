"""`affectedge review` and `affectedge export`: read session logs (never write them), report, export."""
