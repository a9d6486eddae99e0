"""The report folder: report.md (table, plots, notes) and report.json (every figure)."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .options import EvaluationOptions
from .volumes import Sample

FORMAT_VERSION = 1


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    magnitude = abs(float(value))
    if magnitude != 0 and (magnitude < 10 ** -digits or magnitude >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _auc(entry: dict) -> str:
    return f"{entry['auc']:.2f} [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"×{value:.2f}"


def machine() -> str:
    """CPU model and core count, for the record."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model or 'unknown CPU'}, {cores} core(s) available, {platform.system()} {platform.machine()}"


def summary_table(measures: dict) -> list[dict[str, str]]:
    """Rows of the report's main table: measure, generated, baseline, comparison, samples."""
    rows = []

    def add(measure: str, generated: str, baseline: str, comparison: str, samples: str) -> None:
        rows.append({"measure": measure, "generated": generated, "baseline": baseline, "comparison": comparison,
                     "samples": samples})

    for modality, entry in measures.get("histograms", {}).items():
        add(f"in-brain histogram W1, {modality}", _number(entry["w1"], 4), _number(entry["baseline_w1"], 4),
            _ratio(entry["ratio"]),
            f"{entry['n_generated']} gen, {entry['n_reference_b']} ref B vs {entry['n_reference_a']} ref A")
    if "frd" in measures:
        frd = measures["frd"]
        add(f"FRD v1 ({frd['feature_set']} features; log of squared distance)", _number(frd["frd"], 2),
            _number(frd["baseline_frd"], 2), f"squared distance {_ratio(frd['squared_distance_ratio'])}",
            f"{frd['n_generated']} gen, {frd['n_reference_b']} ref B vs {frd['n_reference_a']} ref A")
    for key, label in (("simple_reader", "simple reader AUC (logistic regression, image statistics)"),
                       ("cnn_reader", "learnt reader AUC (3D CNN)")):
        if key in measures:
            main, base = measures[key]["generated_vs_reference"], measures[key]["baseline"]
            add(label + ", 95% CI", _auc(main), _auc(base), "0.5 = cannot tell",
                f"{main['n_positive']} gen vs {main['n_negative']} ref A; baseline {base['n_positive']} ref B vs "
                f"{base['n_negative']} ref A")
    if "latent" in measures:
        latent = measures["latent"]
        sizes = f"{latent['n_generated']} gen, {latent['n_reference_b']} ref B vs {latent['n_reference_a']} ref A"
        add("latent Fréchet distance (autoencoder latents)", _number(latent["frechet_distance"]),
            _number(latent["baseline_frechet_distance"]), _ratio(latent["frechet_ratio"]), sizes)
        add("latent MMD (linear kernel, unbiased)", _number(latent["mmd"], 4), _number(latent["baseline_mmd"], 4), "", sizes)
    if "diversity" in measures:
        gen, ref = measures["diversity"]["generated"], measures["diversity"]["reference"]
        add("diversity: mean pairwise MS-SSIM within a modality (lower = more diverse)", _number(gen["mean"]),
            _number(ref["mean"]), "reference among itself", f"{gen['n']} gen, {ref['n']} ref")
    memo = measures.get("memorisation")
    if memo is not None and memo.get("measured"):
        add("memorisation: highest SSIM to the nearest training volume", _number(memo["generated_max_ssim"]),
            _number(memo["held_out_max_ssim"]),
            f"{memo['n_flagged']} generated closer than any held-out (chance if new subjects "
            f"{memo['chance_of_a_flag_if_new_subjects']:.0%}; closer overall p={memo['closer_than_held_out_p']:.2g})",
            f"{memo['n_generated']} gen, {memo['n_held_out']} held-out, "
            f"{sum(memo['training'].values())} training")
    elif memo is not None:
        add("memorisation", "not measured", "", memo.get("reason", ""), "")
    labels = {"background": "mean background outside the reference head region",
              "high_frequency_energy": "in-brain high-frequency energy (mean squared Laplacian)",
              "gradient_p90": "in-brain 90th percentile gradient magnitude"}
    for key, label in labels.items():
        entry = measures.get("background_detail", {}).get(key)
        if entry:
            difference = entry["generated"]["mean"] - entry["reference"]["mean"]
            comparison = (f"difference {difference:+.4f}" if key == "background"
                          else _ratio(entry["ratio"]) + " of reference")
            add(label, _number(entry["generated"]["mean"], 4), _number(entry["reference"]["mean"], 4), comparison,
                f"{entry['generated']['n']} gen, {entry['reference']['n']} ref")
    return rows


def _markdown_table(rows: list[dict[str, str]], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(str(row.get(key, "")).replace("|", "/") for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _detail_per_modality(measures: dict) -> str:
    detail = measures.get("background_detail")
    if not detail:
        return ""
    rows = []
    for modality in detail["background"]["per_modality"]:
        row = {"modality": modality}
        for key in ("background", "high_frequency_energy", "gradient_p90"):
            entry = detail[key]["per_modality"].get(modality)
            row[key] = (f"{_number(entry['generated']['mean'], 4)} / {_number(entry['reference']['mean'], 4)}"
                        if entry else "–")
        rows.append(row)
    return "\n\n### Background and detail per modality (generated / reference)\n\n" + _markdown_table(
        rows, [("modality", "modality"), ("background", "background"), ("high_frequency_energy", "HF energy"),
               ("gradient_p90", "gradient p90")])


def _notes(inputs: dict, measures: dict, options: EvaluationOptions, grid) -> list[str]:
    notes = []
    shape = "x".join(map(str, grid.shape))
    spacing = "x".join(f"{s:g}" for s in grid.spacing)
    for side in ("reference", "generated"):
        record = inputs[side]
        if record["resampled"]:
            notes.append(f"{record['resampled']} of {record['n']} {side} volumes were on another grid and were resampled "
                         f"(linear, in world coordinates) onto the bundle grid {shape} at {spacing} mm.")
        if record["normalised"]:
            notes.append(f"{record['normalised']} of {record['n']} {side} volumes were outside [0, 1] and were normalised "
                         "with the bundle's intensity rule (robust percentiles).")
    notes.append("In-brain masks are estimated from each image by one rule for both sides (intensity above 0.05, "
                 "opened, largest component, holes filled); the background is measured outside the reference head "
                 f"region (the union of the reference brain masks dilated by 2 voxels; {inputs['head_region_fraction']:.0%} "
                 "of the grid).")
    notes.append("Distances (histograms, FRD, latent) and readers compare generated volumes with reference half A, and "
                 "reference half B with half A as the baseline, with equal numbers per modality; halves are split by "
                 "subject. Cross-validated AUCs of two groups that do not differ fall below 0.5 on samples this small; "
                 "the baseline AUC shows by how much.")
    if options.skip:
        notes.append(f"Skipped at the user's request: {', '.join(sorted(options.skip))}.")
    frd = measures.get("frd")
    if frd and frd.get("volumes_without_features"):
        notes.append(f"No radiomics features for: {', '.join(frd['volumes_without_features'])} (left out of FRD).")
    memo = measures.get("memorisation") or {}
    for row in memo.get("flagged", []):
        notes.append(f"Memorisation flag: {row['name']} has SSIM {row['ssim']:.3f} to training volume "
                     f"{row['nearest_training']}, closer than any held-out {row['modality']} subject "
                     f"({memo['held_out_max_ssim_per_modality'][row['modality']]:.3f}).")
    return notes


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(folder: Path, options: EvaluationOptions, bundle: dict, grid, inputs: dict, generated: list[Sample],
                 measures: dict, timings: dict, seconds: float) -> None:
    """Write report.json and report.md into ``folder`` (the temporary report folder)."""
    table = summary_table(measures)
    notes = _notes(inputs, measures, options, grid)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    settings = {"count": options.count if options.generated is None else None, "seed": options.seed,
                "steps": options.steps, "guidance": options.guidance, "sampler": options.sampler,
                "frd_features": options.frd_features, "folds": options.folds,
                "cnn": {"epochs": options.cnn.epochs, "folds": options.cnn.folds, "max_side": options.cnn.max_side},
                "skip": sorted(options.skip), "reference_split": options.reference_split,
                "training_split": options.training_split}
    volumes = [{"name": s.name, "modality": s.modality, "subject": s.subject,
                **{k: v for k, v in s.info.items() if k in ("prompt", "seed", "steps", "guidance_scale", "sampler", "path")}}
               for s in generated]
    document = {"format_version": FORMAT_VERSION, "created": created, "machine": machine(), "bundle": bundle,
                "grid": {"shape": list(grid.shape), "spacing": list(grid.spacing)}, "settings": settings,
                "inputs": inputs, "table": table, "measures": measures, "notes": notes,
                "generated_volumes": volumes, "timings_seconds": {**timings, "total": round(seconds, 1)}}
    (folder / "report.json").write_text(json.dumps(_json_ready(document), indent=1) + "\n", encoding="utf-8")

    lines = [f"# Evaluation of {bundle['bundle_id']} {bundle['version']}", "",
             f"Created {created} on {machine()}, in {seconds / 60:.1f} min. Every generated volume is SYNTHETIC.", "",
             f"- reference: {inputs['reference']['n']} volumes of {inputs['reference']['subjects']} subjects "
             f"{inputs['reference']['per_modality']} from `{inputs['reference']['source']}`",
             f"- generated: {inputs['generated']['n']} volumes {inputs['generated']['per_modality']} "
             + (f"from `{options.generated}`" if options.generated else
                f"by the bundle, prompts from the reference subjects' modality, age and sex, seeds {options.seed}"
                f"–{options.seed + inputs['generated']['n'] - 1}"),
             f"- training: {inputs['training']['n']} volumes from `{inputs['training']['source']}`" if inputs["training"]
             else "- training: none given (memorisation not measured)",
             "", "## Summary", "",
             _markdown_table(table, [("measure", "measure"), ("generated", "generated"),
                                     ("baseline", "baseline (reference)"), ("comparison", "comparison"),
                                     ("samples", "samples")])]
    lines.append(_detail_per_modality(measures))
    if (folder / "histograms.png").exists():
        lines += ["", "## In-brain grey levels", "", "![in-brain histograms](histograms.png)"]
    if (folder / "montage.png").exists():
        lines += ["", "## Generated beside reference", "",
                  "Mid-slices (axial, coronal, sagittal), window 0–1 for every volume.", "", "![montage](montage.png)"]
    for key in ("simple_reader",):
        if key in measures:
            strongest = measures[key]["generated_vs_reference"]["strongest_statistics"]
            lines += ["", "## What the simple reader relies on", "",
                      "Largest mean coefficients (within-modality z-scores; positive = higher in generated volumes): "
                      + ", ".join(f"{item['statistic']} {item['coefficient']:+.2f}" for item in strongest) + "."]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    lines += ["", "Every figure, per volume and per modality, is in `report.json`. What each measure means, its "
              "baseline and what it cannot see: docs/evaluation.md.", ""]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
