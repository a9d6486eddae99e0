"""The panel's bundle card says when a bundle's files cannot be used, from the engine's torch-free checks."""

from __future__ import annotations

import sys

import pytest
from bg3d_gui import write_fake_bundle

from BrainGen3DLib.bundle_card import card_html, read_bundle_card


def test_a_sound_fake_bundle_has_no_problems(tmp_path):
    card = read_bundle_card(write_fake_bundle(tmp_path / "b"))
    assert card.problems == [] and "Cannot be used" not in card_html(card)


@pytest.mark.parametrize("damage, words", [
    (lambda b: (b / "unet.safetensors").write_bytes(b"\x80\x04junk"), "never unpickles"),
    (lambda b: (b / "unet.safetensors").write_bytes(b"\x10\x00"), "truncated"),
    (lambda b: (b / "unet.safetensors").unlink(), "unet.safetensors is missing"),
    (lambda b: ((b / "unet.safetensors").unlink(), (b / "unet.safetensors").mkdir()), "is a folder"),
])
def test_unusable_weights_are_listed_on_the_card(tmp_path, damage, words):
    bundle = write_fake_bundle(tmp_path / "b")
    damage(bundle)
    card = read_bundle_card(bundle)
    assert any(words in problem for problem in card.problems)
    assert "Cannot be used" in card_html(card)


def test_a_model_card_outside_the_bundle_is_not_shown(tmp_path):
    bundle = write_fake_bundle(tmp_path / "b")
    (tmp_path / "secret.md").write_text("# Secret\n\nSECRET OUTSIDE TEXT\n")
    (bundle / "README.md").unlink()
    (bundle / "README.md").symlink_to(tmp_path / "secret.md")
    card = read_bundle_card(bundle)
    assert "SECRET" not in card.card and "SECRET" not in card_html(card)
    assert any("outside the bundle folder" in problem for problem in card.problems)


def test_the_checks_do_not_import_torch(tmp_path):
    import subprocess

    bundle = write_fake_bundle(tmp_path / "b")
    code = ("import sys; from BrainGen3DLib.bundle_card import read_bundle_card; "
            f"card = read_bundle_card({str(bundle)!r}); print(card.problems, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": ":".join(sys.path)})
    assert result.stdout.split() == ["[]", "False"], result.stderr
