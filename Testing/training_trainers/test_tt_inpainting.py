"""The inpainting fine-tune: masks and captions, the widened start, and an exported bundle the engine inpaints with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from braingen3d.bundle import load_bundle, preset_config
from braingen3d.models.builders import build_unet
from braingen3d.pipelines.inpaint import LesionInpainter
from braingen3d.prompts.attributes import LESION_ATTRIBUTES_FLAG, PROMPT_ATTRIBUTES_FLAG, prompt_attribute_vectors
from training.trainers.configs import load_config
from training.trainers.export import export_bundle
from training.trainers.inpainting import inpaint_unet_kwargs, widen_input_weights
from training.trainers.lesion_masks import MaskDrawer, SubjectMasks


def _subject_with_lesion(shape: tuple[int, int, int]) -> SubjectMasks:
    lesion = np.zeros(shape, dtype=bool)
    lesion[20:24, 20:24, 20:24] = True  # 4 voxels of 2 mm: an 8 mm cube
    centres = np.argwhere(np.ones(shape, dtype=bool))[::5]
    return SubjectMasks(components=[np.argwhere(lesion)], lesion=lesion, centres=centres)


def test_lesion_masks_cover_the_lesion_and_are_captioned_by_it() -> None:
    shape = (48, 48, 48)
    drawer = MaskDrawer(shape, 2.0, 4, lesion_probability=1.0, max_dilation_mm=0.0)
    drawn = drawer.draw(_subject_with_lesion(shape), "FLAIR", np.random.default_rng(0))
    assert drawn.from_lesion and drawn.latent.shape == (1, 12, 12, 12)
    assert drawn.latent[0, 5:6, 5:6, 5:6].all() and int(drawn.latent.sum()) == 1  # the 8 mm cube is latent voxel (5, 5, 5)
    captions = {drawer.draw(_subject_with_lesion(shape), "FLAIR", np.random.default_rng(s)).caption for s in range(30)}
    assert captions <= {"a white-matter lesion", "a 10 mm white-matter hyperintensity"}, captions
    assert len(captions) == 2
    t1 = {drawer.draw(_subject_with_lesion(shape), "T1", np.random.default_rng(s)).caption for s in range(30)}
    assert "a 10 mm white-matter lesion" in t1  # T1 lesions are not called hyperintensities


def test_random_masks_away_from_lesions_teach_no_lesions() -> None:
    shape = (48, 48, 48)
    subject = _subject_with_lesion(shape)
    far = SubjectMasks(components=subject.components, lesion=subject.lesion, centres=np.array([[40, 40, 40]]))
    drawer = MaskDrawer(shape, 2.0, 4, lesion_probability=0.0, random_radius_mm=(4.0, 6.0))
    drawn = drawer.draw(far, "T2", np.random.default_rng(1))
    assert not drawn.from_lesion and drawn.caption == "no lesions" and 1 <= int(drawn.latent.sum()) <= 27
    near = SubjectMasks(components=subject.components, lesion=subject.lesion, centres=np.array([[21, 21, 21]]))
    caption = drawer.draw(near, "T2", np.random.default_rng(1)).caption
    assert caption != "no lesions" and ("lesion" in caption or "hyperintensity" in caption), caption


def _subject_in_white_matter(shape: tuple[int, int, int]) -> SubjectMasks:
    subject = _subject_with_lesion(shape)
    white_matter = np.argwhere(np.ones(shape, dtype=bool))[::3]
    white_matter = white_matter[np.abs(white_matter - 21.5).max(axis=1) > 10]  # clear of the lesion
    return SubjectMasks(subject.components, subject.lesion, subject.centres, white_matter_centres=white_matter)


def test_shams_have_lesion_shapes_but_sit_clear_of_lesions_and_teach_no_lesions() -> None:
    shape = (48, 48, 48)
    subject = _subject_in_white_matter(shape)
    drawer = MaskDrawer(shape, 2.0, 4, lesion_probability=1.0, max_dilation_mm=0.0, sham_probability=1.0)
    for seed in range(10):
        drawn = drawer.draw(subject, "FLAIR", np.random.default_rng(seed))
        assert not drawn.from_lesion and drawn.caption == "no lesions"
        latent = drawn.latent[0].numpy().astype(bool)
        assert not latent[5, 5, 5]  # the lesion's latent voxel is never covered by a sham
        assert 1 <= latent.sum() <= 8  # the 8 mm cube's shape moved: one latent voxel, or split over up to 8
    without_lesions = SubjectMasks([], None, subject.centres, white_matter_centres=subject.white_matter_centres)
    blob = drawer.draw(without_lesions, "T2", np.random.default_rng(0))
    assert blob.caption == "no lesions" and 1 <= int(blob.latent.sum()) <= 27  # a blob of 2.5-7 mm semi-axes
    never = MaskDrawer(shape, 2.0, 4, lesion_probability=1.0, max_dilation_mm=0.0, sham_probability=0.0)
    assert all(never.draw(subject, "FLAIR", np.random.default_rng(s)).from_lesion for s in range(10))


def test_blob_masks_enclose_the_lesion_with_a_rounder_shape() -> None:
    shape = (48, 48, 48)
    subject = _subject_with_lesion(shape)
    blob = MaskDrawer(shape, 2.0, 1, lesion_probability=1.0, max_dilation_mm=4.0, blob_probability=1.0)
    exact = MaskDrawer(shape, 2.0, 1, lesion_probability=1.0, max_dilation_mm=0.0, blob_probability=0.0)
    lesion = subject.lesion
    for seed in range(10):
        drawn = blob.draw(subject, "FLAIR", np.random.default_rng(seed))
        mask = drawn.latent[0].numpy().astype(bool)  # factor 1: the model-grid mask itself
        assert drawn.from_lesion and mask[lesion].all() and mask.sum() > lesion.sum()
        assert not mask[20, 20, 20 - 4] and not mask[20 - 5, 20 - 5, 20 - 5]  # an ellipsoid, not a grown cube
    assert np.array_equal(exact.draw(subject, "FLAIR", np.random.default_rng(0)).latent[0].numpy().astype(bool), lesion)


def test_the_inpainting_unet_keeps_the_text_unets_preconditioning() -> None:
    field = {"second_moment": [1.0, 0.1], "noise_scheduler": {}}
    unet = {"in_channels": 2, "out_channels": 2, "channel_preconditioning": field}
    kwargs = inpaint_unet_kwargs(unet, 2)
    assert kwargs["in_channels"] == 5 and kwargs["channel_preconditioning"] == field


def test_widened_unet_predicts_what_the_text_unet_predicts() -> None:
    config = preset_config("tiny")
    torch.manual_seed(0)
    text_unet = build_unet(config.unet).eval()
    for p in text_unet.parameters():  # MONAI zero-initialises the output conv; make the output informative
        p.data.normal_(0.0, 0.1)
    inpaint_unet = build_unet(inpaint_unet_kwargs(config.unet, 4)).eval()
    inpaint_unet.load_state_dict(widen_input_weights(text_unet.state_dict(), inpaint_unet))
    noisy = torch.randn(1, 4, 4, 4, 4)
    extra = torch.randn(1, 5, 4, 4, 4)
    context = torch.randn(1, 64, 384)
    t = torch.tensor([500])
    with torch.no_grad():
        expected = text_unet(noisy, t, context=context)
        got = inpaint_unet(torch.cat([noisy, extra], 1), t, context=context)
    assert torch.allclose(expected, got, atol=1e-5)
    assert expected.abs().mean() > 1e-3


def test_a_lesion_attribute_unet_starts_as_the_text_unet_and_needs_prompt_attributes() -> None:
    from training.trainers.configs import TrainingConfigError

    config = preset_config("tiny")
    with pytest.raises(TrainingConfigError, match="lesion_attributes"):
        inpaint_unet_kwargs(config.unet, 4, lesion_attributes=True)
    torch.manual_seed(0)
    text_kwargs = {**config.unet, PROMPT_ATTRIBUTES_FLAG: True}
    text_unet = build_unet(text_kwargs).eval()
    for p in text_unet.parameters():
        p.data.normal_(0.0, 0.1)
    kwargs = inpaint_unet_kwargs(text_kwargs, 4, lesion_attributes=True)
    assert kwargs[LESION_ATTRIBUTES_FLAG] and LESION_ATTRIBUTES_FLAG not in text_kwargs
    inpaint_unet = build_unet(kwargs).eval()
    inpaint_unet.load_state_dict(widen_input_weights(text_unet.state_dict(), inpaint_unet))
    noisy, extra, t = torch.randn(1, 4, 4, 4, 4), torch.randn(1, 5, 4, 4, 4), torch.tensor([500])
    with torch.no_grad():
        for prompt in ("T2 MRI, a 10 mm white-matter hyperintensity", "T2 MRI, no lesions"):
            conditioning = {"context": torch.randn(1, 8, 384), "attributes": prompt_attribute_vectors([prompt])}
            expected = text_unet(noisy, t, **conditioning)
            assert torch.allclose(expected, inpaint_unet(torch.cat([noisy, extra], 1), t, **conditioning), atol=1e-5)


def test_inpainting_run_exports_a_bundle_the_engine_inpaints_with(tmp_path: Path, tt_autoencoder_run: Path,
                                                                  tt_diffusion_run: Path, tt_inpainting_run: Path) -> None:
    record = json.loads((tt_inpainting_run / "final" / "inpainting.json").read_text())
    assert record["steps"] == 4 and record["inpaint_unet"]["in_channels"] == 9 and record["final_losses"]["loss"] > 0
    assert (tt_inpainting_run / "previews" / "inpaint_step0000002.png").is_file()
    bundle_dir = export_bundle(tt_autoencoder_run, tt_diffusion_run, tmp_path / "bundle", inpainting_dir=tt_inpainting_run,
                               inpaint_defaults=load_config("tiny", ["inpainting.negative_prompt=no lesions"]).inpainting.bundle_defaults())
    bundle = load_bundle(bundle_dir)
    assert bundle.config.capabilities["inpaint"] == ["inpaint_unet", "repaint"]
    assert bundle.config.sampling_defaults["inpaint"] == {"negative_prompt": "no lesions"}  # guidance: generation's
    assert bundle.config.inpaint_defaults()["guidance_scale"] == bundle.config.sampling_defaults["guidance_scale"]
    assert bundle.inpaint_unet is not None and bundle.config.training["inpainting"]["steps"] == 4
    card = (bundle_dir / "README.md").read_text()
    assert "inpainting U-Net (fine-tune) | 4 |" in card
    assert "- Lesion inpainting: an inpainting U-Net" in card and "or RePaint with the text U-Net" in card
    assert 'Inpainting defaults to negative prompt "no lesions" (`sampling_defaults.inpaint`).' in card

    grid = bundle.config.grid
    volume = np.random.default_rng(0).uniform(0.2, 0.8, grid.shape).astype(np.float32)
    mask = np.zeros(grid.shape, dtype=bool)
    mask[7:9, 7:9, 7:9] = True
    inpainter = LesionInpainter.from_bundle(bundle_dir, "cpu")
    result = inpainter(volume, grid.affine, mask, "a white-matter lesion", method="inpaint_unet",
                       num_inference_steps=2, seed=0, blend_margin_mm=10.0)
    assert result.provenance["method"] == "inpaint_unet"
    outside = np.ones(grid.shape, dtype=bool)
    outside[result.region.indices] = False
    assert outside.sum() > 0 and np.array_equal(result.array[outside], volume[outside])


def test_inpainting_needs_a_finished_diffusion_run(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    from training.trainers.distributed import DistEnv
    from training.trainers.inpainting import InpaintingTrainer

    with pytest.raises(FileNotFoundError, match="not a finished diffusion run"):
        InpaintingTrainer(load_config("tiny"), tt_autoencoder_run, tmp_path / "nothing", tmp_path / "out", DistEnv())


def test_inpainting_resume_refuses_a_changed_diffusion_run(tmp_path: Path, tt_autoencoder_run: Path,
                                                           tt_diffusion_run: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from training.trainers.configs import TrainingConfigError, load_config
    from training.trainers.distributed import DistEnv
    from training.trainers.inpainting import InpaintingTrainer

    diffusion = tmp_path / "diffusion"
    shutil.copytree(tt_diffusion_run, diffusion)
    out = tmp_path / "inpainting"
    trainer = InpaintingTrainer(load_config("tiny"), tt_autoencoder_run, diffusion, out, DistEnv())
    trainer.fit(until_step=2)
    trainer.close()
    weights = diffusion / "final" / "unet.safetensors"
    tensors = load_file(str(weights))
    first = next(iter(tensors))
    tensors[first] = tensors[first] + 1.0
    save_file(tensors, str(weights))
    with pytest.raises(TrainingConfigError, match="changed since the inpainting run"):
        InpaintingTrainer(load_config("tiny"), tt_autoencoder_run, diffusion, out, DistEnv(), resume=True)
    resumed = InpaintingTrainer(load_config("tiny"), tt_autoencoder_run, tt_diffusion_run, tmp_path / "fresh", DistEnv())
    resumed.close()


def test_inpainting_command_line_trains_and_exports(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    from training import train_inpainting

    common = ["--config", "tiny", "--autoencoder", str(tt_autoencoder_run), "--diffusion", str(tt_diffusion_run),
              "--out", str(tmp_path / "run"), "--threads", "1"]
    with pytest.raises(SystemExit) as exit_info:
        train_inpainting.main(common + ["--export-only"])
    assert exit_info.value.code == 2
    assert train_inpainting.main(common + ["--export-bundle", str(tmp_path / "bundle"), "--weights-dtype", "float16"]) == 0
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.config.capabilities["inpaint"] == ["inpaint_unet", "repaint"]
    assert bundle.config.training["weights_dtype"] == "float16"
    # Export refuses a --diffusion folder that is not a finished diffusion run, and writes nothing.
    assert train_inpainting.main(["--config", "tiny", "--autoencoder", str(tt_autoencoder_run), "--diffusion",
                                  str(tmp_path / "run"), "--out", str(tmp_path / "run"), "--export-only",
                                  "--export-bundle", str(tmp_path / "other")]) == 2
    assert not (tmp_path / "other").exists()
