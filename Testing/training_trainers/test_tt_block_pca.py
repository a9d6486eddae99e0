"""Training a block-PCA autoencoder: the encoder is fitted once and stays fixed, the decoder correction trains,
a resume is bit-identical, and the latents feed the diffusion trainer (plain, or with a U-Net preconditioned
per channel from measured second moments) and an exported bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from braingen3d.bundle import load_bundle
from braingen3d.models.block_pca_autoencoder import BlockPCAAutoencoder
from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.prompts.text_encoder import TextEncoder
from Testing.training_trainers.test_tt_resume import _compare_checkpoints
from training.trainers.autoencoder import AutoencoderTrainer, read_final_record
from training.trainers.checkpoint import load_checkpoint
from training.trainers.configs import load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle


def _config():
    config = load_config("tiny", ["autoencoder.logvar_init=-6"])
    config.architecture = {"autoencoder": {"kind": "block_pca"},
                           "unet": {"channel_preconditioning": True, "prompt_attributes": True}}  # as the small config
    return config


def test_block_pca_run_fits_once_trains_the_decoder_and_resumes_exactly(tmp_path: Path, tt_manifest: Path) -> None:
    config = _config()
    first = AutoencoderTrainer(config, tt_manifest, tmp_path / "resumed", DistEnv())
    assert isinstance(first.autoencoder, BlockPCAAutoencoder)
    fitted = {k: v.clone() for k, v in first.autoencoder.state_dict().items()}
    assert fitted["block_basis"].abs().sum() > 0
    assert float(fitted["posterior_log_variance"]) == -6.0
    assert first.fit(until_step=2) == 2
    first.close()
    second = AutoencoderTrainer(config, tt_manifest, tmp_path / "resumed", DistEnv(), resume=True)
    assert second.fit() == 4
    second.close()
    straight = AutoencoderTrainer(config, tt_manifest, tmp_path / "straight", DistEnv())
    straight.fit()
    straight.close()
    _compare_checkpoints(tmp_path / "straight", tmp_path / "resumed", "autoencoder")

    trained = load_checkpoint(tmp_path / "straight" / "checkpoints" / "checkpoint_last.pt", "autoencoder")["modules"]["autoencoder"]
    for buffer in ("block_basis", "channel_scale", "posterior_log_variance"):
        assert torch.equal(trained[buffer], fitted[buffer]), f"{buffer} changed in training"
    last_conv = f"decoder.blocks.{len(straight.autoencoder.decoder.blocks) - 1}.conv.weight"
    assert torch.count_nonzero(fitted[last_conv]) == 0  # the correction starts at zero ...
    assert torch.count_nonzero(trained[last_conv]) > 0  # ... and trains

    record = read_final_record(tmp_path / "straight")
    assert record["autoencoder"]["kind"] == "block_pca"
    assert 0.5 < record["block_pca_fit"]["energy_kept"] <= 1.0
    assert record["block_pca_fit"]["volumes"] == 6  # the tiny cohort's training split


def test_block_pca_latents_train_diffusion_and_export_a_loadable_bundle(tmp_path: Path, tt_manifest: Path) -> None:
    config = _config()
    autoencoder_run = tmp_path / "autoencoder"
    trainer = AutoencoderTrainer(config, tt_manifest, autoencoder_run, DistEnv())
    trainer.fit()
    trainer.close()
    diffusion = DiffusionTrainer(config, autoencoder_run, tmp_path / "diffusion", DistEnv())
    assert diffusion.fit() == config.diffusion.max_steps
    diffusion.close()
    bundle = load_bundle(export_bundle(autoencoder_run, tmp_path / "diffusion", tmp_path / "bundle"))
    assert isinstance(bundle.autoencoder, BlockPCAAutoencoder)
    final = read_final_record(autoencoder_run)
    assert bundle.config.autoencoder["kind"] == "block_pca"
    assert bundle.config.scale_factor == final["autoencoder"]["scale_factor"]
    ema = load_checkpoint(autoencoder_run / "checkpoints" / "checkpoint_last.pt", "autoencoder")["emas"]["autoencoder"]
    assert torch.equal(bundle.autoencoder.block_basis.float(), ema["weights"]["block_basis"].float())
    assert bundle.unet.preconditioned
    # The bundle carries the second moments the trainer measured on the scaled training latents.
    latents = diffusion.latents.mu[torch.from_numpy(diffusion.train_rows)].double() * diffusion.latents.scale_factor
    expected = latents.pow(2).mean(dim=(0, 2, 3, 4))
    torch.testing.assert_close(bundle.unet.second_moment.double(), expected, rtol=1e-5, atol=1e-6)
    assert float(expected.max() / expected.min()) > 3  # the natural spectrum: the channels differ in scale
    # The previews ran on the EMA copy of the attribute U-Net; the bundle's U-Net reads the attributes too.
    assert list((tmp_path / "diffusion" / "previews").glob("*.png"))
    assert bundle.config.text_encoder["prompt_attributes"] and bundle.unet.attribute_embedding is not None
    volume = BrainGenPipeline(bundle, TextEncoder.from_config(bundle.config.text_encoder), torch.device("cpu"))(
        "T1-weighted MRI of a 70-year-old man with enlarged ventricles", num_inference_steps=2, seed=0)
    assert np.isfinite(volume.volumes[0].array).all()


def test_decoder_latent_noise_perturbs_only_what_the_decoder_sees(tmp_path: Path, tt_manifest: Path) -> None:
    config = _config()
    config.autoencoder.decoder_latent_noise = 0.5
    trainer = AutoencoderTrainer(config, tt_manifest, tmp_path / "noisy", DistEnv())
    x = trainer._batch()
    noise = trainer._latent_noise(x)["latent_noise"]
    channels = trainer.autoencoder.latent_channels
    assert noise.shape == (len(x), channels) and bool((noise >= 0).all()) and float(noise.max()) > 0
    # one level per sample, scaled by each channel's strength
    ratios = noise / noise[:, :1]
    assert torch.allclose(ratios[0], ratios[-1])
    autoencoder = trainer.autoencoder.eval()
    with torch.no_grad():
        clean, mu, _ = autoencoder(x)
        noisy, noisy_mu, _ = autoencoder(x, latent_noise=torch.full((len(x), channels), 0.5))
    assert torch.equal(mu, noisy_mu)  # the encoder's output (the diffusion latent) is untouched
    assert float((noisy - clean).abs().mean()) > 1e-3  # the decoder saw a perturbed latent
    trainer.close()

    config.autoencoder.decoder_latent_noise = 0.0
    plain = AutoencoderTrainer(config, tt_manifest, tmp_path / "plain", DistEnv())
    assert plain._latent_noise(x) == {}
    plain.close()


def test_decoder_latent_noise_is_refused_for_a_kl_autoencoder_and_out_of_range() -> None:
    import pytest

    from training.trainers.configs import TrainingConfigError

    with pytest.raises(TrainingConfigError, match="needs a block_pca autoencoder"):
        load_config("tiny", ["autoencoder.decoder_latent_noise=0.1"])
    config = _config()
    config.autoencoder.decoder_latent_noise = 2.0
    with pytest.raises(TrainingConfigError, match="between 0 and 1"):
        config.validate()


def test_a_decoder_trained_after_the_unet_ships_in_the_bundle_only_on_the_same_encoder(tmp_path: Path,
                                                                                       tt_manifest: Path) -> None:
    import pytest

    from braingen3d.bundle.weights import load_weights

    config = _config()
    runs = {}
    for name, decoder, volumes in (("encoder", {}, 64), ("wider", {"channels": [8, 16]}, 64), ("other", {}, 2)):
        run_config = _config()
        run_config.architecture["autoencoder"].update(decoder)
        run_config.autoencoder.pca_volumes = volumes  # 2 of the 6 training volumes fit another basis
        trainer = AutoencoderTrainer(run_config, tt_manifest, tmp_path / name, DistEnv())
        trainer.fit()
        trainer.close()
        runs[name] = tmp_path / name
    diffusion = DiffusionTrainer(config, runs["encoder"], tmp_path / "diffusion", DistEnv())
    diffusion.fit()
    diffusion.close()

    path = export_bundle(runs["encoder"], tmp_path / "diffusion", tmp_path / "bundle", decoder_dir=runs["wider"])
    bundle = load_bundle(path)
    assert bundle.config.autoencoder["channels"] == [8, 16]
    wider = load_weights(runs["wider"] / "final" / "autoencoder.safetensors")
    shipped = bundle.autoencoder.state_dict()
    for name, tensor in wider.items():
        assert torch.equal(shipped[name].float(), tensor.float()), name
    assert bundle.config.scale_factor == read_final_record(runs["encoder"])["autoencoder"]["scale_factor"]
    assert bundle.config.training["decoder"]["steps"] == config.autoencoder.max_steps
    assert "decoder (trained after the U-Net" in (path / "README.md").read_text(encoding="utf-8")

    with pytest.raises(ValueError, match="another encoder"):
        export_bundle(runs["encoder"], tmp_path / "diffusion", tmp_path / "refused", decoder_dir=runs["other"])
    assert not (tmp_path / "refused").exists()
