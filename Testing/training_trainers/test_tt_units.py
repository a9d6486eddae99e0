"""Configs, data checks, captions, loss weighting and LR schedule of the trainers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from braingen3d.bundle import preset_config
from braingen3d.sampling.schedulers import make_training_scheduler
from training.trainers.autoencoder import kl_divergence
from training.trainers.captioning import CaptionSource, MinimalCaptionBuilder, load_caption_builder
from training.trainers.configs import TrainingConfigError, apply_overrides, load_config
from training.trainers.data import DataError, VolumeStore, check_on_grid, random_patch_corner, read_manifest
from training.trainers.diffusion import min_snr_weights
from training.trainers.evaluation import evaluate_autoencoder
from training.trainers.schedule import WarmupCosine


@pytest.mark.parametrize("name", ["tiny", "small", "small_kl", "base", "large"])
def test_shipped_configs_match_their_presets(name: str) -> None:
    config = load_config(name)
    bundle = config.bundle_config()
    # The preset's U-Net plus only what the config's "architecture" names (small: prompt attributes).
    assert bundle.unet == {**preset_config(config.preset).unet, **config.architecture.get("unet", {})}
    assert all(p % config.downsampling == 0 for p in config.autoencoder.patch_size)
    assert bundle.noise_scheduler["prediction_type"] == "v_prediction"


def test_small_kl_config_fits_the_cpu_budget() -> None:
    config = load_config("small_kl")
    # Measured on 2 (nearly) idle cores with bf16 autocast: 1.3 s per autoencoder step (48^3 patches, batch 2),
    # 0.75 s to encode a volume (fp32), 1.1 s per U-Net step (batch 8); the cohort has 960 training volumes.
    # The inpainting U-Net costs what the text U-Net costs.
    autoencoder_minutes = config.autoencoder.max_steps * 1.3 / 60
    encoding_minutes = 960 * 0.75 / 60
    diffusion_minutes = config.diffusion.max_steps * 1.1 / 60
    inpainting_minutes = config.inpainting.max_steps * 1.1 / 60
    assert autoencoder_minutes + encoding_minutes + diffusion_minutes + inpainting_minutes <= 180
    assert config.bundle_config().latent_shape == (16, 20, 24, 20)
    assert config.autoencoder.cpu_bf16 and config.diffusion.cpu_bf16 and config.inpainting.cpu_bf16


def test_small_config_fits_the_cpu_budget() -> None:
    config = load_config("small")
    # Measured on 2 cores with run_default_training.sh: 10.2 min for the autoencoder's 500 steps with its check
    # and encoding, 1.14 s per diffusion step (also the prior refinement's 400 steps), 1.48 s per inpainting
    # step, 0.42 s per structure-regressor step; cohort 2.3 min. With 1.2x those times (other work on the
    # cores), the recipe must still fit in 3 hours.
    minutes = (2.3 + config.autoencoder.max_steps * 10.2 / 500 + (config.diffusion.max_steps + 400) * 1.14 / 60
               + config.inpainting.max_steps * 1.48 / 60 + config.structure_regressor.max_steps * 0.42 / 60)
    assert 1.2 * minutes <= 180
    bundle = config.bundle_config()
    assert bundle.autoencoder["kind"] == "block_pca" and bundle.latent_shape == (32, 20, 24, 20)
    assert bundle.unet["channels"] == load_config("small_kl").bundle_config().unet["channels"]
    assert config.preset == "small" and config.inpainting.lesion_attributes
    assert config.inpainting.bundle_defaults() == {"guidance_scale": 20.0, "negative_prompt": "no lesions"}


def test_overrides_and_config_errors(tmp_path: Path) -> None:
    config = load_config("tiny", ["autoencoder.max_steps=7", "diffusion.preview_prompt=a brain", "diffusion.min_snr_gamma=null"])
    assert config.autoencoder.max_steps == 7 and config.diffusion.preview_prompt == "a brain"
    assert config.diffusion.min_snr_gamma is None
    with pytest.raises(TrainingConfigError, match="Unknown field"):
        load_config("tiny", ["autoencoder.max_stepz=7"])
    with pytest.raises(TrainingConfigError, match="divisible by 2"):
        load_config("tiny", ["autoencoder.patch_size=[15, 16, 16]"])
    with pytest.raises(TrainingConfigError, match="inpainting.guidance_scale"):
        load_config("tiny", ["inpainting.guidance_scale=-1"])
    assert load_config("tiny").inpainting.bundle_defaults() is None
    assert load_config("tiny", ["inpainting.guidance_scale=20"]).inpainting.bundle_defaults() == {"guidance_scale": 20}
    with pytest.raises(TrainingConfigError, match="section.field=value"):
        apply_overrides({}, ["autoencoder.max_steps"])
    with pytest.raises(TrainingConfigError, match="Available"):
        load_config("huge")
    with pytest.raises(TrainingConfigError, match="'inpainting.sham_probability' must be in"):
        load_config("tiny", ["inpainting.sham_probability=1.5"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "preset": "nope"}))
    with pytest.raises(TrainingConfigError, match="preset"):
        load_config(str(bad))


def test_off_grid_and_unnormalised_images_are_refused(tmp_path: Path, tt_manifest: Path) -> None:
    grid = preset_config("tiny").grid
    shifted = grid.affine.copy()
    shifted[0, 3] += 5.0
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), np.float32), shifted), tmp_path / "shifted.nii.gz")
    with pytest.raises(DataError, match="training.data.preprocess"):
        check_on_grid(tmp_path / "shifted.nii.gz", grid)
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 12), np.float32), grid.affine), tmp_path / "small.nii.gz")
    with pytest.raises(DataError, match=r"shape \(16, 16, 12\)"):
        check_on_grid(tmp_path / "small.nii.gz", grid)
    records = read_manifest(tt_manifest, ("train",))
    assert len(records) == 6 and {r.split for r in records} == {"train"}
    loud = tmp_path / "loud.nii.gz"
    nib.save(nib.Nifti1Image(np.full((16, 16, 16), 300.0, np.float32), grid.affine), loud)
    store = VolumeStore(records, grid)
    object.__setattr__(store.records[0], "image", loud)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        store.image(0)


def test_patches_are_biased_to_the_brain() -> None:
    mask = np.zeros((40, 40, 40), bool)
    mask[30:38, 30:38, 30:38] = True
    rng = np.random.default_rng(0)
    corners = [random_patch_corner(mask, (8, 8, 8), rng, foreground_bias=1.0) for _ in range(50)]
    assert all(0 <= c <= 32 for corner in corners for c in corner)
    hits = [mask[c[0]:c[0] + 8, c[1]:c[1] + 8, c[2]:c[2] + 8].any() for c in corners]
    assert all(hits)


def test_captions_use_override_else_a_fresh_paraphrase(tt_manifest: Path) -> None:
    rows = [r.fields for r in read_manifest(tt_manifest)]
    builder, name = load_caption_builder(tt_manifest)  # no norms.json next to this manifest
    assert isinstance(builder, MinimalCaptionBuilder) and "minimal" in name
    source = CaptionSource(builder)
    rng = np.random.default_rng(0)
    assert source(rows[0], rng) == "a sphere with an override caption"
    assert source(rows[1], rng) == "T1 MRI of a 35-year-old female"


def test_caption_builder_with_norms_draws_new_paraphrases(tmp_path: Path) -> None:
    from training.captions import CohortNorms
    from training.captions.measure import STRUCTURES

    rng = np.random.default_rng(0)
    subjects = [{"age": str(20 + a), "sex": "MF"[a % 2], **{s: str(100.0 + rng.normal(0, 5)) for s in STRUCTURES}}
                for a in range(40)]
    CohortNorms.fit(subjects).save(tmp_path / "norms.json")
    builder, name = load_caption_builder(tmp_path / "manifest.csv")
    assert "CaptionBuilder" in name
    record = {"modality": "FLAIR", "age": "64", "sex": "F", "caption": "", "lesion_count": "2",
              "lesion_max_diameter_mm": "6", **{s: "100" for s in STRUCTURES}}
    record["ventricles_ml"] = "160"
    source = CaptionSource(builder)
    captions = {source(record, rng) for _ in range(30)}
    assert len(captions) > 3  # a new paraphrase each draw
    assert all("ventricle" in c.lower() for c in captions)


def test_min_snr_weights() -> None:
    scheduler = make_training_scheduler(preset_config("tiny").noise_scheduler)
    alphas = scheduler.alphas_cumprod.float()
    t = torch.tensor([0, 500, 999])
    snr = alphas[t] / (1 - alphas[t])
    v = min_snr_weights(alphas, t, 5.0, "v_prediction")
    eps = min_snr_weights(alphas, t, 5.0, "epsilon")
    assert torch.allclose(v, torch.minimum(snr, torch.tensor(5.0)) / (snr + 1))
    assert torch.allclose(eps, torch.minimum(snr, torch.tensor(5.0)) / snr)
    assert v[0] < 1.0 and eps[-1] == pytest.approx(1.0)  # clamped at low noise, unweighted at high noise (eps)


def test_min_snr_floor_raises_only_the_high_noise_weights() -> None:
    scheduler = make_training_scheduler(preset_config("tiny").noise_scheduler)
    alphas = scheduler.alphas_cumprod.float()
    snr = alphas / (1 - alphas)
    t = torch.tensor([0, int(torch.nonzero(snr < 3).min()), 800, 999])  # SNR > 5, 1 < SNR < 5, SNR < 1, SNR ~ 0
    plain = min_snr_weights(alphas, t, 5.0, "v_prediction")
    floored = min_snr_weights(alphas, t, 5.0, "v_prediction", floor=1.0)
    assert torch.allclose(floored[:2], plain[:2])
    assert torch.allclose(floored[2:], 1.0 / (snr[t[2:]] + 1))  # the clean-latent weight is 1, as plain v-loss gives
    assert plain[-1] < 1e-3 < 0.99 < floored[-1]


def test_min_snr_floor_and_prediction_type_config() -> None:
    config = load_config("tiny", ["diffusion.min_snr_floor=1.0"])
    assert config.diffusion.min_snr_floor == 1.0 and config.inpainting.min_snr_floor is None
    epsilon = load_config("tiny", ["architecture.noise_scheduler.prediction_type=epsilon"])
    assert epsilon.bundle_config().noise_scheduler["prediction_type"] == "epsilon"
    with pytest.raises(TrainingConfigError, match="'diffusion.min_snr_floor' needs v prediction"):
        load_config("tiny", ["architecture.noise_scheduler.prediction_type=epsilon", "diffusion.min_snr_floor=1.0"])
    with pytest.raises(TrainingConfigError, match="'diffusion.min_snr_floor' is 6.0"):
        load_config("tiny", ["diffusion.min_snr_floor=6.0"])
    with pytest.raises(TrainingConfigError, match="needs 'inpainting.min_snr_gamma'"):
        load_config("tiny", ["inpainting.min_snr_gamma=null", "inpainting.min_snr_floor=1.0"])
    with pytest.raises(TrainingConfigError, match=r"Unknown section\(s\) \['unets'\]"):
        load_config("tiny", ["architecture.unets.channels=[8, 8]"])
    with pytest.raises(TrainingConfigError, match="prediction_type"):
        load_config("tiny", ["architecture.noise_scheduler.prediction_type=sample"])


def test_warmup_cosine_schedule() -> None:
    schedule = WarmupCosine(warmup_steps=10, total_steps=110, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert schedule(110) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)


def test_kl_divergence() -> None:
    mu, sigma = torch.zeros(2, 4, 3, 3, 3), torch.ones(2, 4, 3, 3, 3)
    assert float(kl_divergence(mu, sigma)) == 0.0
    assert float(kl_divergence(mu + 1.0, sigma)) == pytest.approx(0.5 * 4 * 27)
    assert float(kl_divergence(mu, sigma * 2.0)) == pytest.approx(0.5 * (4.0 - math.log(4.0) - 1.0) * 4 * 27, rel=1e-5)


def test_held_out_evaluation_of_an_identity_and_a_biased_autoencoder() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((24, 24, 24)).astype(np.float32) * 0.8
    mask = np.zeros(image.shape, bool)
    mask[6:18, 6:18, 6:18] = True

    class Shift(torch.nn.Module):
        def __init__(self, offset: float) -> None:
            super().__init__()
            self.offset = offset

        def encode(self, x):
            return x, torch.ones_like(x)

        def decode(self, z):
            return z + self.offset

    perfect = evaluate_autoencoder(Shift(0.0), [image], [mask], torch.device("cpu"))
    assert perfect["ssim"] == pytest.approx(1.0) and math.isinf(perfect["psnr"])
    biased = evaluate_autoencoder(Shift(0.1), [image, image], [mask, mask], torch.device("cpu"))
    assert biased["psnr"] == pytest.approx(20.0, abs=1e-3) and biased["ssim"] < 1.0 and biased["subjects"] == 2


def test_held_out_selection_spreads_over_modalities_and_subjects() -> None:
    from training.trainers.data import Record, spread_selection

    records = [Record({"subject_id": f"s{s}", "modality": m}, Path(f"s{s}_{m}.nii.gz"), None)
               for s in range(10) for m in ("T1", "T2", "FLAIR", "PD")]
    chosen = spread_selection(records, 4)
    assert {r.fields["modality"] for r in chosen} == {"T1", "T2", "FLAIR", "PD"}
    assert len({r.subject_id for r in chosen}) == 4
    assert len(spread_selection(records, 100)) == 40 == len({id(r) for r in spread_selection(records, 100)})


def test_unet_gradient_checkpointing_keeps_gradients() -> None:
    """The CUDA-only memory saver must not change the maths (checked on CPU)."""
    from braingen3d.models.builders import build_unet
    from training.trainers.precision import enable_unet_checkpointing

    config = preset_config("tiny")
    torch.manual_seed(0)
    plain = build_unet(config.unet)
    wrapped = build_unet(config.unet)
    wrapped.load_state_dict(plain.state_dict())
    enable_unet_checkpointing(wrapped)
    x = torch.randn(2, 4, 8, 8, 8)
    t = torch.tensor([10, 500])
    context = torch.randn(2, 5, 384)
    for net in (plain, wrapped):
        net(x, t, context=context).pow(2).mean().backward()
    for (name, a), b in zip(plain.named_parameters(), wrapped.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_posterior_variance_initialisation() -> None:
    from braingen3d.models.builders import build_autoencoder
    from training.trainers.autoencoder import initialise_posterior_variance

    autoencoder = build_autoencoder(preset_config("tiny").autoencoder_kwargs)
    initialise_posterior_variance(autoencoder, -8.0)
    _, sigma = autoencoder.encode(torch.rand(2, 1, 16, 16, 16))
    assert torch.allclose(sigma, torch.full_like(sigma, math.exp(-4.0)))
    assert load_config("small_kl").autoencoder.logvar_init is not None  # the KL recipe uses it


def test_cpu_bf16_autocast_only_when_asked_and_native() -> None:
    from training.trainers.precision import autocast, autocast_dtype, cpu_supports_bf16

    cpu = torch.device("cpu")
    assert autocast_dtype(cpu) is None
    assert autocast_dtype(cpu, cpu_bf16=True) == (torch.bfloat16 if cpu_supports_bf16() else None)
    layer = torch.nn.Linear(4, 4)
    with autocast(cpu, cpu_bf16=True):
        out = layer(torch.randn(2, 4))
    assert out.dtype == (torch.bfloat16 if cpu_supports_bf16() else torch.float32)


def test_fixed_posterior_variance_stays_fixed(tmp_path: Path, tt_manifest: Path) -> None:
    from training.trainers.autoencoder import AutoencoderTrainer
    from training.trainers.distributed import DistEnv

    config = load_config("tiny", ["autoencoder.logvar_init=-8.0", "autoencoder.learn_posterior_variance=false",
                                  "autoencoder.max_steps=3", "autoencoder.preview_every=0", "autoencoder.eval_every=0"])
    trainer = AutoencoderTrainer(config, tt_manifest, tmp_path / "ae", DistEnv())
    before = {k: v.clone() for k, v in trainer.autoencoder.state_dict().items()}
    trainer.fit(until_step=3)
    trainer.close()
    after = trainer.autoencoder.state_dict()
    sigma_keys = [k for k in after if k.startswith("quant_conv_log_sigma")]
    assert sigma_keys and all(torch.equal(after[k], before[k]) for k in sigma_keys)
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("encoder"))
    x = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        _, sigma = trainer.autoencoder.encode(x)
    assert torch.allclose(sigma, torch.full_like(sigma, float(np.exp(-4.0))), rtol=1e-4)
    with pytest.raises(TrainingConfigError, match="needs 'logvar_init'"):
        AutoencoderTrainer(load_config("tiny", ["autoencoder.learn_posterior_variance=false"]), tt_manifest,
                           tmp_path / "ae2", DistEnv())


def test_prompt_attributes_are_switched_on_by_the_unet_alone() -> None:
    # The training config names the U-Net's flag; the bundle's text encoder follows it.
    config = load_config("small_kl", ["architecture.unet.prompt_attributes=true"]).bundle_config()
    assert config.unet["prompt_attributes"] and config.text_encoder["prompt_attributes"]
    assert "prompt_attributes" not in load_config("small_kl").bundle_config().text_encoder
    assert load_config("small").bundle_config().text_encoder["prompt_attributes"]  # set in its config
