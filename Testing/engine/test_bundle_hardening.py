"""Bad bundles are refused by name before anything is built: network fields by type and range, absurd sizes
before allocation, files that are not regular files (saying what they are) or lie outside the bundle, and
`info` tells when a bundle cannot be used without loading its weights."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from braingen3d.bundle import load_bundle, read_config
from braingen3d.bundle.files import bundle_file
from braingen3d.cli.main import main
from braingen3d.core.errors import BundleError


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    return copy


def edit_config(bundle: Path, change) -> None:
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("field, value, words", [
    ("channels", [-16, 16], "'unet.channels[0]' must be a whole number from 1 to 4096; got -16"),
    ("channels", "16,16", "'unet.channels' must be a list of 1 to 8 whole numbers"),
    ("channels", [16, "16"], "'unet.channels[1]' must be a whole number"),
    ("channels", [16, 10**6], "'unet.channels[1]' must be a whole number from 1 to 4096"),
    ("num_res_blocks", -1, "'unet.num_res_blocks' must be a whole number from 1 to 16"),
    ("attention_levels", [True], "'unet.attention_levels' must be a list of 2 booleans"),
    ("num_head_channels", [0, "a"], "'unet.num_head_channels[1]'"),
    ("norm_num_groups", 5, "'unet.norm_num_groups' is 5 but channels [16, 16]"),
    ("with_conditioning", "yes", "'unet.with_conditioning' must be true or false"),
    ("cross_attention_dim", 1.5, "'unet.cross_attention_dim' must be a whole number"),
])
def test_network_fields_are_checked_by_type_and_range(bundle, field, value, words):
    edit_config(bundle, lambda c: c["unet"].__setitem__(field, value))
    with pytest.raises(BundleError) as caught:
        read_config(bundle)
    assert words in str(caught.value)


def test_autoencoder_fields_are_checked_too(bundle):
    edit_config(bundle, lambda c: c["autoencoder"].__setitem__("latent_channels", "4"))
    with pytest.raises(BundleError, match="'autoencoder.latent_channels' must be a whole number"):
        read_config(bundle)


def test_an_absurdly_large_bundle_is_refused_before_any_network_is_allocated(bundle, monkeypatch):
    import braingen3d.bundle.bundle as bundle_module

    class Built(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Built("a network was built")

    monkeypatch.setattr(bundle_module, "build_unet", refuse)
    monkeypatch.setattr(bundle_module, "build_autoencoder", refuse)
    edit_config(bundle, lambda c: c["unet"].__setitem__("channels", [4096, 4096]))
    with pytest.raises(BundleError, match=r"declares [\d,]+M parameters \(unet: .* above the 1,000M"):
        load_bundle(bundle)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.mkdir(), "is a folder, not a regular file"),
    (make_fifo, "is a FIFO (named pipe), not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "is a character device (a symbolic link to /dev/zero)"),
    (lambda p: p.symlink_to(p.name), "is a symbolic link loop"),
    (lambda p: p.symlink_to(p.parent / "nowhere.safetensors"), "is a broken symbolic link"),
])
def test_weights_that_are_not_regular_files_are_named_for_what_they_are(bundle, damage, words):
    target = bundle / "unet.safetensors"
    target.unlink()
    damage(target)
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle)
    assert words in str(caught.value) and "missing" not in str(caught.value)


def test_a_file_resolving_outside_the_bundle_is_refused(bundle, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("SECRET OUTSIDE TEXT")
    (bundle / "README.md").unlink()
    (bundle / "README.md").symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle folder"):
        bundle_file(bundle, "README.md")
    with pytest.raises(BundleError, match="outside the bundle folder"):
        load_bundle(bundle)


def test_info_does_not_print_a_card_from_outside_the_bundle(bundle, tmp_path, capsys):
    outside = tmp_path / "secret.md"
    outside.write_text("SECRET OUTSIDE TEXT")
    (bundle / "README.md").unlink()
    (bundle / "README.md").symlink_to(outside)
    code = main(["info", "--bundle", str(bundle)])
    out = capsys.readouterr().out
    assert code == 3 and "SECRET" not in out and "outside the bundle folder" in out


def test_info_says_a_sound_bundle_is_usable_without_loading_weights(tiny_bundle, capsys, monkeypatch):
    import braingen3d.bundle.weights as weights

    monkeypatch.setattr(weights, "load_file", lambda *a, **k: pytest.fail("weights were loaded"))
    assert main(["info", "--bundle", str(tiny_bundle)]) == 0
    out = capsys.readouterr().out
    assert "usable:        yes" in out and "parameters:" in out


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def _swap(path: Path) -> None:
    shutil.copy(path.parent / "autoencoder.safetensors", path)


@pytest.mark.parametrize("damage, words", [
    (_truncate, "is truncated: its header promises"),
    (lambda p: torch.save({"w": torch.zeros(2)}, p), "never unpickles"),
    (_swap, "does not match the config field 'unet'"),
    (lambda p: p.unlink(), "unet.safetensors is missing"),
])
def test_info_says_when_a_bundle_cannot_be_used(bundle, capsys, damage, words):
    damage(bundle / "unet.safetensors")
    code = main(["info", "--bundle", str(bundle)])
    out = capsys.readouterr().out
    assert code == 3 and "usable:        NO" in out and words in out


def test_a_changed_tensor_shape_is_found_from_the_header(bundle, capsys):
    from safetensors.torch import load_file, save_file

    state = load_file(str(bundle / "unet.safetensors"))
    key = next(k for k, v in state.items() if v.ndim == 5)
    state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 1)
    save_file(state, str(bundle / "unet.safetensors"))
    assert main(["info", "--bundle", str(bundle)]) == 3
    assert f"tensor '{key}' has shape" in capsys.readouterr().out
