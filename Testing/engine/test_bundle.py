"""Bundle loading refuses every mismatch and never unpickles."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import pytest
import torch

from braingen3d.bundle import load_bundle, make_random_bundle, read_config
from braingen3d.core.errors import BundleError


@pytest.fixture()
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target)
    return target


def _edit_config(bundle: Path, edit) -> None:
    config = json.loads((bundle / "config.json").read_text())
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config))


def test_round_trip_keeps_weights_and_config(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert bundle.config.bundle_id == "random-tiny"
    assert bundle.card.startswith("# ")
    reference = make_random_bundle(tiny_bundle.parent / "again", preset="tiny", seed=0)
    again = load_bundle(reference)
    for key, tensor in bundle.unet.state_dict().items():
        assert torch.equal(tensor, again.unet.state_dict()[key])


def test_weights_are_safetensors_only(tiny_bundle):
    suffixes = {p.suffix for p in tiny_bundle.iterdir()}
    assert suffixes == {".json", ".md", ".safetensors"}


def test_saved_bundle_is_readable_by_others_under_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        bundle = make_random_bundle(tmp_path / "shared", preset="tiny", seed=0)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o755
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in bundle.iterdir()} == {
        p.name: 0o644 for p in bundle.iterdir()}


def test_missing_weights_file_is_named(bundle_copy):
    (bundle_copy / "unet.safetensors").unlink()
    with pytest.raises(BundleError, match="unet.safetensors is missing"):
        load_bundle(bundle_copy)


def test_truncated_weights_file_is_reported_corrupt(bundle_copy):
    path = bundle_copy / "autoencoder.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BundleError, match="autoencoder.safetensors"):
        load_bundle(bundle_copy)


def test_pickle_renamed_to_safetensors_is_never_unpickled(bundle_copy, monkeypatch):
    torch.save(load_bundle(bundle_copy).unet.state_dict(), bundle_copy / "unet.safetensors")
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    with pytest.raises(BundleError, match="pickle"):
        load_bundle(bundle_copy)


def test_plain_pickle_protocol_file_is_refused(bundle_copy):
    (bundle_copy / "unet.safetensors").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(BundleError, match="pickle"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("field, edit", [
    ("unet.channels", lambda c: c["unet"].update(channels=[16, 32])),
    ("autoencoder", lambda c: c["autoencoder"].update(channels=[8, 16])),
    ("unet.cross_attention_dim", lambda c: (c["unet"].update(cross_attention_dim=256), c["text_encoder"].update(hidden_size=256))),
    ("autoencoder.latent_channels", lambda c: c["autoencoder"].update(latent_channels=3)),
    ("format_version", lambda c: c.update(format_version=99)),
    ("spatial", lambda c: c["spatial"].update(affine=[[1, 0], [0, 1]])),
    ("spatial.shape", lambda c: c["spatial"].update(shape=[18, 16, 16])),
    ("noise_scheduler.prediction_type", lambda c: c["noise_scheduler"].update(prediction_type="x0")),
    ("sampling_defaults.sampler", lambda c: c["sampling_defaults"].update(sampler="plms")),
    ("capabilities.inpaint", lambda c: c["capabilities"].update(inpaint=["magic"])),
    ("bundle_id", lambda c: c.pop("bundle_id")),
])
def test_config_weight_mismatch_names_the_field(bundle_copy, field, edit):
    _edit_config(bundle_copy, edit)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    assert field.split(".")[0] in str(info.value)
    if "." in field:
        assert field in str(info.value) or field.split(".")[1] in str(info.value)


def test_invalid_json_config(bundle_copy):
    (bundle_copy / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_config(bundle_copy)


def test_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")


def test_channel_preconditioning_loads_and_must_match_the_schedule(bundle_copy):
    def precondition(config):
        config["unet"]["channel_preconditioning"] = {"second_moment": [4.0, 1.0, 0.5, 0.1],
                                                     "noise_scheduler": dict(config["noise_scheduler"])}

    _edit_config(bundle_copy, precondition)
    loaded = load_bundle(bundle_copy)
    assert loaded.unet.preconditioned  # plain U-Net weights, preconditioned from the config
    _edit_config(bundle_copy, lambda c: c["unet"]["channel_preconditioning"]["noise_scheduler"].update(beta_end=0.03))
    with pytest.raises(BundleError, match="channel_preconditioning.noise_scheduler' differs"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["autoencoder"].update(kind="block_pca", whiten=True), "autoencoder.whiten"),
    (lambda c: c["unet"].update(pooled_text_conditioning=True), "unet.pooled_text_conditioning"),
    (lambda c: c["unet"].update(channel_preconditioning={"second_moment": [1.0] * c["unet"]["out_channels"],
                                                         "noise_scheduler": c["noise_scheduler"],
                                                         "scale_conditioning": True}),
     "unet.channel_preconditioning.scale_conditioning"),
])
def test_options_this_engine_does_not_build_are_refused_by_name(bundle_copy, edit, field):
    path = bundle_copy / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    with pytest.raises(BundleError, match=field.replace(".", r"\.")):
        read_config(bundle_copy)
