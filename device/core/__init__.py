"""Value types, errors, the clock, window records, source status and the config building blocks
(the strict base model, the YAML loader with line numbers): the bottom layer, importing nothing
of affectedge."""
