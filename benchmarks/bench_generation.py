"""Generation timings for the README table (not part of the test suite).

Each case runs in its own subprocess so that its peak RSS is its own. Prints one Markdown table.

    python benchmarks/bench_generation.py [--bundle DIR] [--steps 25] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("bench_generation")

PROMPT = "T2-weighted MRI of a 72-year-old woman with enlarged ventricles"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case_engine(bundle: str | None, steps: int, sampler: str, structure_guidance: float | None = None) -> dict:
    """Our pipeline: load, then one guided generation of one volume (structure guidance: the bundle's, or this weight)."""
    import torch

    from braingen3d.core.device import precision_name
    from braingen3d.pipelines.generation import BrainGenPipeline

    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    pipeline = BrainGenPipeline.from_bundle(bundle, device="cpu")
    load = time.perf_counter() - start
    pipeline("warm-up", num_inference_steps=1, seed=0)  # first-call allocations are not sampling cost
    step_times: list[float] = []
    last = [time.perf_counter()]

    def on_step(event) -> None:
        now = time.perf_counter()
        if event.phase == "denoise":
            step_times.append(now - last[0])
        last[0] = now

    start = time.perf_counter()
    last[0] = start
    output = pipeline(PROMPT, num_inference_steps=steps, sampler=sampler, seed=1, callback=on_step,
                      structure_guidance=structure_guidance)
    total = time.perf_counter() - start
    config = pipeline.config
    steered = "structure_guidance" in output.volumes[0].provenance
    return {
        "case": f"BrainGen3D {sampler} {steps} steps, CFG{', structure guidance' if steered else ''}, "
                f"{precision_name(pipeline.device)} ({config.bundle_id})",
        "shape": "x".join(map(str, config.grid.shape)), "spacing_mm": config.grid.spacing[0],
        "load_s": load, "end_to_end_s": total, "per_step_s": sum(step_times) / len(step_times),
        "decode_s": output.timings.get("decode_seconds"), "peak_rss_mb": _peak_rss_mb(),
    }


def case_monai_reference(bundle: str, steps: int) -> dict:
    """A plain MONAI loop: LatentDiffusionInferer + MONAI DDIMScheduler, CFG by a batch-2 wrapper,
    MONAI's default attention (no SDPA), fp32 and a default-layout decode, as in MONAI's tutorials."""
    import torch
    from monai.inferers import LatentDiffusionInferer
    from monai.networks.nets import DiffusionModelUNet
    from monai.networks.schedulers import DDIMScheduler

    from braingen3d.bundle import read_config
    from braingen3d.models.builders import build_autoencoder
    from braingen3d.prompts.text_encoder import TextEncoder

    torch.set_num_threads(os.cpu_count() or 1)
    config = read_config(Path(bundle))
    start = time.perf_counter()
    autoencoder = build_autoencoder(config.autoencoder_kwargs).eval()  # MONAI's AutoencoderKL unless the bundle says otherwise
    unet = DiffusionModelUNet(spatial_dims=3, **config.unet).eval()
    text = TextEncoder()
    load = time.perf_counter() - start
    context = text.encode(["", PROMPT])

    class GuidedUNet(torch.nn.Module):
        def __init__(self, net, scale):
            super().__init__()
            self.net, self.scale = net, scale

        def forward(self, x, timesteps, context=None, **kwargs):
            uncond, cond = self.net(torch.cat([x, x]), torch.cat([timesteps, timesteps]), context=context).chunk(2)
            return uncond + self.scale * (cond - uncond)

    scheduler = DDIMScheduler(num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.0015,
                              beta_end=0.0195, clip_sample=False)
    scheduler.set_timesteps(steps)
    inferer = LatentDiffusionInferer(scheduler, scale_factor=1.0)
    noise = torch.randn((1, *config.latent_shape), generator=torch.Generator().manual_seed(1))
    step_times: list[float] = []
    original_step = scheduler.step
    last = [0.0]

    def timed_step(*args, **kwargs):
        result = original_step(*args, **kwargs)
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now
        return result

    scheduler.step = timed_step
    with torch.no_grad():
        start = time.perf_counter()
        last[0] = start
        image = inferer.sample(input_noise=noise, autoencoder_model=autoencoder, diffusion_model=GuidedUNet(unet, 3.0),
                               scheduler=scheduler, conditioning=context, verbose=False)
        total = time.perf_counter() - start
    assert image.shape[2:] == config.grid.shape
    return {
        "case": f"MONAI LatentDiffusionInferer DDIM {steps} steps, CFG, fp32", "shape": "x".join(map(str, config.grid.shape)),
        "spacing_mm": config.grid.spacing[0], "load_s": load, "end_to_end_s": total,
        "per_step_s": sum(step_times) / len(step_times), "decode_s": None, "peak_rss_mb": _peak_rss_mb(),
    }


def cli_cold_start(bundle: str, steps: int) -> dict:
    """``braingen3d generate`` in a new process: seconds from the process start to the first denoising step
    shown by its progress bar, and to the end."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "braingen3d.cli.main", "generate", PROMPT, "-o", str(Path(folder) / "out.nii.gz"),
                   "--bundle", bundle, "--steps", str(steps), "--device", "cpu"]
        start = time.perf_counter()
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        seen, first_step = b"", None
        while first_step is None and (chunk := process.stderr.read1(4096)):
            seen += chunk
            if f" 1/{steps} ".encode() in seen:
                first_step = time.perf_counter() - start
        process.stderr.read()
        if process.wait() != 0:
            raise RuntimeError(seen.decode(errors="replace")[-2000:])
        return {"first_step_s": first_step, "total_s": time.perf_counter() - start}


def run_case(args: list[str], env: dict[str, str] | None = None) -> dict:
    result = subprocess.run([sys.executable, __file__, "--case", *args], capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def tutorial_bundle(folder: Path) -> Path:
    """Random weights at the MONAI-tutorial scale: U-Net (64,128,128), 96x112x96, latent 3x24x28x24."""
    from braingen3d.bundle import make_random_bundle

    return make_random_bundle(folder / "tutorial", preset="base", overwrite=True)


def format_table(rows: list[dict]) -> str:
    lines = ["| case | volume | load (s) | end-to-end (s) | per step (s) | decode (s) | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        decode = f"{r['decode_s']:.2f}" if r.get("decode_s") is not None else "(in total)"
        lines.append(f"| {r['case']} | {r['shape']} @ {r['spacing_mm']:g} mm | {r['load_s']:.2f} | "
                     f"{r['end_to_end_s']:.1f} | {r['per_step_s']:.3f} | {decode} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="default: the embedded bundle")
    parser.add_argument("--steps", type=int, default=None, help="our steps (default: the bundle's default)")
    parser.add_argument("--tutorial-steps", type=int, default=20, help="our steps at the tutorial size")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, rest = args.case[0], args.case[1:]
        if kind == "engine":
            result = case_engine(None if rest[0] == "-" else rest[0], int(rest[1]), rest[2],
                                 float(rest[3]) if len(rest) > 3 else None)
        else:
            result = case_monai_reference(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from braingen3d.bundle import default_bundle_path, read_config
    from braingen3d.core.device import CPU_BF16_ENV

    bundle = args.bundle or str(default_bundle_path())
    steps = args.steps or int(read_config(Path(bundle)).sampling_defaults["steps"])
    rows = [run_case(["engine", bundle, str(steps), "dpm++"])]
    with tempfile.TemporaryDirectory() as folder:
        tutorial = str(tutorial_bundle(Path(folder)))
        rows.append(run_case(["engine", tutorial, str(args.tutorial_steps), "dpm++"]))
        rows.append(run_case(["engine", tutorial, str(args.tutorial_steps), "dpm++"], {CPU_BF16_ENV: "0"}))
        rows.append(run_case(["monai", tutorial, "50"]))
    speedup = rows[3]["end_to_end_s"] / rows[1]["end_to_end_s"]
    speedup_fp32 = rows[3]["end_to_end_s"] / rows[2]["end_to_end_s"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average before run {os.getloadavg()[0]:.2f}")
    rows.append(run_case(["engine", bundle, str(steps), "dpm++"], {CPU_BF16_ENV: "0"}))
    rows.append(run_case(["engine", bundle, str(steps), "dpm++", "0"]))  # the same without structure guidance
    print(format_table(rows))
    cli = cli_cold_start(bundle, steps)
    print(f"\nCLI cold start (braingen3d generate, {steps} steps): first denoising step after "
          f"{cli['first_step_s']:.1f} s, done after {cli['total_s']:.1f} s.")
    print(f"\nTutorial size: BrainGen3D DPM++-{args.tutorial_steps} is {speedup:.1f}x faster end-to-end than the MONAI "
          f"DDIM-50 loop ({speedup_fp32:.1f}x with our engine held to fp32).")


if __name__ == "__main__":
    main()
