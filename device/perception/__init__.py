"""Per-modality analysers: face, voice, physiology (each turns samples into estimates).

The service's assembly (``affectedge.service.assembly.build_analysers``) chooses which to build."""
