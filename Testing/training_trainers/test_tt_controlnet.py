"""The ControlNet trainer: starts as a no-op on the frozen U-Net, trains only the ControlNet, exports a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from braingen3d.bundle import load_bundle
from braingen3d.pipelines.generation import BrainGenPipeline
from training.trainers.configs import load_config
from training.trainers.controlnet import ControlNetTrainer, copy_encoder_weights
from training.trainers.data import DataError
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle


@pytest.fixture(scope="module")
def controlnet_run(tmp_path_factory: pytest.TempPathFactory, tt_autoencoder_run: Path, tt_diffusion_run: Path):
    out = tmp_path_factory.mktemp("tt_runs") / "controlnet"
    trainer = ControlNetTrainer(load_config("tiny"), tt_autoencoder_run, tt_diffusion_run, out, DistEnv())
    start = {k: v.clone() for k, v in trainer.unet.state_dict().items()}
    frozen = {k: v.clone() for k, v in trainer.frozen_unet.state_dict().items()}
    noisy = torch.randn(2, 4, 8, 8, 8)
    t = torch.tensor([10, 900])
    conditioning = trainer.text_encoder.conditioning(["a", "b"])
    control = torch.rand(2, 1, 16, 16, 16)
    with torch.no_grad():
        controlled = trainer.predict(noisy, t, conditioning, control)
        plain = trainer.frozen_unet(noisy, t, **conditioning.unet_kwargs())
    trainer.fit()
    trainer.close()
    return out, trainer, start, frozen, controlled, plain


def test_controlnet_starts_as_a_no_op_and_only_it_trains(controlnet_run, tt_diffusion_run: Path) -> None:
    out, trainer, start, frozen, controlled, plain = controlnet_run
    assert torch.allclose(controlled, plain, atol=1e-6)  # zero-initialised ControlNet outputs
    unet_weights = load_file(str(tt_diffusion_run / "final" / "unet.safetensors"))
    assert all(torch.equal(trainer.frozen_unet.state_dict()[k], frozen[k]) for k in frozen)
    assert all(torch.equal(frozen[k], unet_weights[k]) for k in unet_weights)
    changed = [k for k, v in trainer.unet.state_dict().items() if not torch.equal(v, start[k])]
    assert changed, "the ControlNet did not train"
    record = json.loads((out / "final" / "controlnet.json").read_text())
    assert record["steps"] == 4 and record["controlnet"]["control"] == {"kind": "tissue_labels", "max_label": 5}
    assert (out / "previews" / "controlled_step0000002.png").is_file()


def test_copy_encoder_weights_shares_the_encoder() -> None:
    from braingen3d.bundle import preset_config
    from braingen3d.bundle.presets import controlnet_config
    from braingen3d.models.builders import build_controlnet, build_unet
    from braingen3d.models.controlnet import controlnet_kwargs

    config = preset_config("tiny")
    unet = build_unet(config.unet)
    controlnet = build_controlnet(controlnet_kwargs(controlnet_config(config)))
    copied = copy_encoder_weights(unet, controlnet)
    assert copied > 10
    assert torch.equal(controlnet.state_dict()["conv_in.conv.weight"], unet.state_dict()["conv_in.conv.weight"])


def test_controlnet_bundle_generates_under_control(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path,
                                                   controlnet_run) -> None:
    out = controlnet_run[0]
    bundle_dir = export_bundle(tt_autoencoder_run, tt_diffusion_run, tmp_path / "bundle", controlnet_dir=out)
    bundle = load_bundle(bundle_dir)
    assert bundle.config.capabilities["controlnet"] and bundle.controlnet is not None
    assert "ControlNet (tissue labels) | 4 |" in (bundle_dir / "README.md").read_text()
    labels = np.zeros(bundle.config.grid.shape)
    labels[4:12, 4:12, 4:12] = 2
    pipeline = BrainGenPipeline.from_bundle(bundle_dir, "cpu")
    volume = pipeline("T1 MRI", num_inference_steps=2, seed=1, control=labels).volumes[0].array
    assert volume.shape == (16, 16, 16) and np.isfinite(volume).all()


def test_controlnet_needs_tissue_maps(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    import shutil

    from training.trainers.latents import INDEX_FILE

    autoencoder = tmp_path / "autoencoder"
    shutil.copytree(tt_autoencoder_run, autoencoder)
    record_path = autoencoder / "final" / "autoencoder.json"
    record = json.loads(record_path.read_text())
    record["latents"] = str(autoencoder / "latents")  # the record names its latent cache by absolute path
    record_path.write_text(json.dumps(record))
    index = json.loads((autoencoder / "latents" / INDEX_FILE).read_text())
    index["rows"][0]["tissue_map"] = ""
    (autoencoder / "latents" / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(DataError, match="needs a tissue_map"):
        ControlNetTrainer(load_config("tiny"), autoencoder, tt_diffusion_run, tmp_path / "out", DistEnv())
    assert not (tmp_path / "out" / "checkpoints").exists() or not any((tmp_path / "out" / "checkpoints").iterdir())
