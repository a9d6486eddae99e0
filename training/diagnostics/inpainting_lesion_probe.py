"""Does a bundle's inpainting U-Net draw a cohort lesion where one was, and does the prompt decide it?

For training subjects with lesions (the ones the U-Net learnt from) it masks each subject's largest
lesion, dilated by one voxel, and prints per subject
  * fill: the inpainted lesion's mean over the median white matter outside the mask, once with a
    lesion prompt and once with "no lesions" (the original lesion's ratio beside them);
  * x0: at a few training timesteps, the U-Net's clean-latent prediction from the *true* noisy latent,
    as the mean over the lesion's latent voxels of its coarse channel minus that of the same image with
    the lesion replaced by the median white matter (the true lesion's value beside it), for both prompts.
A U-Net that has learnt the lesion fills it near the original ratio with the lesion prompt, not with
"no lesions", and predicts x0 above 0 with the lesion prompt at the noise levels where the latent no
longer shows the lesion.

    python -m training.diagnostics.inpainting_lesion_probe --bundle DIR --manifest cache/cohort/manifest.csv \
        [--modalities FLAIR,T2] [--subjects 5]

(run it as a module from the repository root)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage as ndi

from braingen3d.pipelines.inpaint import LesionInpainter
from braingen3d.pipelines.inpaint.methods import inpaint_unet_input, masked_latent
from braingen3d.pipelines.inpaint.model_space import encode_image, latent_downsampling, latent_mask
from braingen3d.prompts.text_encoder import TextEncoder
from braingen3d.sampling.schedulers import make_training_scheduler
from training.evaluation.cohort_data import read_manifest
from training.evaluation.inpainting import WHITE_MATTER_LABEL

PROMPTS = ("a white-matter lesion", "no lesions")
TIMESTEPS = (50, 200, 400, 600, 800, 950)


def largest_lesion(lesion_fraction: np.ndarray) -> np.ndarray | None:
    labels, count = ndi.label(lesion_fraction > 0.5)
    if count == 0:
        return None
    return labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1


@torch.inference_mode()
def clean_latent_offsets(inpainter: LesionInpainter, text_encoder: TextEncoder, volume: np.ndarray,
                         lesion: np.ndarray, mask: np.ndarray, white_matter_median: float) -> tuple[float, list[str]]:
    """The true lesion's coarse-channel offset and, per timestep, the U-Net's for each prompt."""
    bundle = inpainter.pipeline.bundle
    config = bundle.config
    device = torch.device("cpu")
    scale = float(config.autoencoder["scale_factor"])
    healed = volume.copy()
    healed[lesion] = white_matter_median
    with_lesion = encode_image(bundle.autoencoder, volume, scale, device)
    without = encode_image(bundle.autoencoder, healed, scale, device)
    factor = latent_downsampling(config)
    region = latent_mask(mask, factor, device)
    core = latent_mask(lesion, factor, device)[0, 0] > 0
    truth = float((with_lesion - without)[0, 0][core].mean())
    scheduler = make_training_scheduler(config.noise_scheduler)
    context = text_encoder.encode(list(PROMPTS))
    columns = []
    for timestep in TIMESTEPS:
        noise = torch.randn(with_lesion.shape, generator=torch.Generator().manual_seed(timestep))
        t = torch.tensor([timestep])
        noisy = scheduler.add_noise(with_lesion, noise, t)
        model_input = inpaint_unet_input(noisy, region, masked_latent(with_lesion, region)).repeat(len(PROMPTS), 1, 1, 1, 1)
        prediction = bundle.inpaint_unet(model_input, t.repeat(len(PROMPTS)), context=context).float()
        a, s = scheduler.alphas_cumprod[timestep].sqrt(), (1 - scheduler.alphas_cumprod[timestep]).sqrt()
        if config.noise_scheduler["prediction_type"] == "v_prediction":
            x0 = a * noisy - s * prediction
        else:
            x0 = (noisy - s * prediction) / a
        offsets = [float((x0[i, 0] - without[0, 0])[core].mean()) for i in range(len(PROMPTS))]
        columns.append(" / ".join(f"{o:+.3f}" for o in offsets))
    return truth, columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the embedded bundle)")
    parser.add_argument("--manifest", type=Path, required=True, help="cohort manifest with lesion masks")
    parser.add_argument("--modalities", default="FLAIR,T2")
    parser.add_argument("--subjects", type=int, default=5, help="training subjects per modality")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    inpainter = LesionInpainter.from_bundle(args.bundle, "cpu")
    if inpainter.pipeline.bundle.inpaint_unet is None:
        raise SystemExit(f"The bundle {args.bundle or '(embedded)'} has no inpainting U-Net; this probe measures one.")
    text_encoder = TextEncoder.from_config(inpainter.config.text_encoder)
    folder = args.manifest.parent
    print(f"bundle {inpainter.config.bundle_id} {inpainter.config.version}; fill and x0 as "
          f"'{PROMPTS[0]}' / '{PROMPTS[1]}'")
    print("| subject | modality | lesion ratio | fill | x0 truth | " + " | ".join(f"x0 t={t}" for t in TIMESTEPS) + " |")
    print("| --- " * (5 + len(TIMESTEPS)) + "|")
    for modality in args.modalities.split(","):
        rows = [r for r in read_manifest(args.manifest)
                if r["split"] == "train" and r["modality"] == modality and r.get("lesion_mask")]
        shown = 0
        for index, row in enumerate(rows):
            if shown == args.subjects:
                break
            image = nib.load(str(folder / row["image"]))
            volume = np.asarray(image.dataobj, dtype=np.float32)
            lesion = largest_lesion(np.asarray(nib.load(str(folder / row["lesion_mask"])).dataobj))
            if lesion is None:
                continue
            mask = ndi.binary_dilation(lesion, iterations=1)
            white_matter = np.asarray(nib.load(str(folder / row["tissue_map"])).dataobj) == WHITE_MATTER_LABEL
            reference = float(np.median(volume[white_matter & ~mask]))
            fills = []
            for prompt in PROMPTS:
                result = inpainter(volume, image.affine, mask, prompt, seed=index, attempts=1, method="inpaint_unet")
                fills.append(float(result.array[lesion].mean()) / reference)
            truth, columns = clean_latent_offsets(inpainter, text_encoder, volume, lesion, mask, reference)
            print(f"| {row['subject_id']} | {modality} | {float(volume[lesion].mean()) / reference:.2f} | "
                  f"{fills[0]:.2f} / {fills[1]:.2f} | {truth:+.3f} | " + " | ".join(columns) + " |", flush=True)
            shown += 1


if __name__ == "__main__":
    main()
