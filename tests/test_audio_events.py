"""YAMNet in the model slot and its NumPy front end (issue 26, part 1), against Google's own test
vectors: the Coral build's test audio (0.975 s of speech) and the spectra its front end produces
(tests/data/yamnet/, from google-coral/coralmicro, Apache-2.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectedge.core.errors import ModelError
from affectedge.perception.audio_events import AudioEventModel, read_class_map
from affectedge.perception.audio_features import PATCH_SAMPLES, log_mel, patches

DATA = Path(__file__).resolve().parent / "data" / "yamnet"


@pytest.fixture(scope="module")
def google():
    audio = np.fromfile(DATA / "yamnet_test_audio.bin", "<i2").astype(np.float32) / 32768.0
    spectra = np.fromfile(DATA / "yamnet_test_spectra.bin", "<f4").reshape(96, 64)
    return audio, spectra


@pytest.fixture(scope="module")
def model():
    return AudioEventModel("litert")


def test_the_front_end_reproduces_googles_test_spectra(google):
    audio, spectra = google
    assert len(audio) == PATCH_SAMPLES
    ours = log_mel(audio)
    assert ours.shape == spectra.shape == (96, 64)
    # Google's Coral front end (TFLite Micro's fixed-point filterbank) ends in an affine min/max
    # normalisation of the log energies; up to that, the two agree band for band.
    slope, offset = np.polyfit(ours.ravel(), spectra.ravel(), 1)
    residual = spectra - (slope * ours + offset)
    assert 0.97 <= slope <= 1.01
    assert np.sqrt(np.mean(residual ** 2)) < 0.02
    assert np.corrcoef(ours.ravel(), spectra.ravel())[0, 1] > 0.9999
    assert patches(ours).shape == (1, 96, 64)


def test_yamnet_hears_googles_speech_the_same_from_our_features_and_from_googles(google, model):
    audio, spectra = google
    ours = model.scores(patches(log_mel(audio)))[0]
    theirs = model.scores(spectra[None])[0]
    assert model.classes[int(np.argmax(ours))] == model.classes[int(np.argmax(theirs))] == "Speech"
    assert ours[model.index("Speech")] > 0.9 and theirs[model.index("Speech")] > 0.9
    assert set(np.argsort(-ours)[:3]) == set(np.argsort(-theirs)[:3])
    assert np.abs(ours - theirs).max() < 0.1


def test_the_class_map_is_checked_and_names_the_classes_a_caregiver_needs(model, tmp_path):
    for name in ("Crying, sobbing", "Baby cry, infant cry", "Screaming", "Whimper", "Wail, moan", "Laughter",
                 "Baby laughter", "Giggle", "Belly laugh", "Chuckle, chortle", "Shout", "Yell"):
        model.index(name)
    with pytest.raises(ModelError, match="no class 'Tantrum'"):
        model.index("Tantrum")
    import shutil

    import yaml

    from affectedge.inference.manifest import bundled_manifest_path, model_spec

    shutil.copy(bundled_manifest_path(), tmp_path / "manifest.yaml")
    shutil.copy(bundled_manifest_path().parent / "yamnet_class_map.csv", tmp_path / "yamnet_class_map.csv")
    with open(tmp_path / "yamnet_class_map.csv", "a") as f:
        f.write("521,/m/x,Extra\n")
    doc = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    doc["models"] = {"yamnet": doc["models"]["yamnet"]}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ModelError, match=r"yamnet_class_map\.csv: sha256 .* is not the manifest's"):
        read_class_map(model_spec("yamnet", "tflite", tmp_path / "manifest.yaml"))


def test_short_audio_gives_no_patch():
    assert patches(log_mel(np.zeros(PATCH_SAMPLES - 1, np.float32))).shape == (0, 96, 64)
    assert log_mel(np.zeros(10, np.float32)).shape == (0, 64)
