"""Model tools: conversion, quantisation, training, comparison and calibration of the models in
models/. Never on the device path."""
