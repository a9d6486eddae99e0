"""Markdown rendering of a quality report, for the model card and the README."""

from __future__ import annotations


def _status(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _structure_guidance(sampling: dict) -> str:
    weight = sampling.get("structure_guidance")
    offset = sampling.get("seed_offset")
    text = f", structure guidance {weight:g}" if weight else ", no structure guidance"
    return text + (f", seeds offset by {offset}" if offset else "")


def markdown_report(results: dict) -> str:
    s = results["summary"]
    t = s["targets"]
    sampling = results["sampling"]
    lines = [
        # Another seed set gets its own card section, so --update-card never overwrites the main one.
        "## Measured quality, other seeds" if sampling.get("seed_offset") else "## Measured quality",
        "",
        f"Bundle `{results['bundle']['id']}` {results['bundle']['version']}; sampler {sampling['sampler']}, "
        f"{sampling['steps']} steps, guidance {sampling['guidance']}{_structure_guidance(sampling)}. Measured by `python -m training.quality_report` "
        f"in {results['wall_time_s'] / 60:.0f} min on this machine's CPU.",
        "",
        "| measure | result | target | |",
        "| --- | --- | --- | --- |",
        f"| autoencoder SSIM in brain ({len(results['reconstruction'])} held-out volumes) | {s['ae_ssim_mean']:.3f} | >= 0.95 | {_status(t['ae_ssim >= 0.95'])} |",
        f"| autoencoder PSNR in brain | {s['ae_psnr_mean']:.1f} dB | >= 30 dB | {_status(t['ae_psnr >= 30 dB'])} |",
        f"| modality contrast order ({s['modality_generations']} generations) | {100 * s['modality_adherence']:.0f}% | >= 95% | {_status(t['modality adherence >= 95%'])} |",
        f"| enlarged > normal ventricles ({s['ventricle_pairs']} seed pairs) | {100 * s['ventricle_pairs_larger']:.0f}% (median difference {s['ventricle_pairs_median_difference_ml']:.1f} ml) | >= 90% | {_status(t['enlarged > normal in >= 90% of pairs'])} |",
        f"| Spearman(prompted age, ventricle volume) | {s['age_ventricle_spearman']:.2f} | >= 0.5 | {_status(t['Spearman(age, ventricles) >= 0.5'])} |",
        f"| mean pairwise MS-SSIM, {len(results['realism']['nearest_training'])} samples of one prompt | {s['pairwise_ms_ssim']:.3f} | < 0.95 | {_status(t['pairwise MS-SSIM < 0.95'])} |",
        f"| within-brain histogram W1 to held-out T1 (baseline: held-out vs training) | {s['histogram_w1_mean']:.3f} ({s['histogram_w1_baseline']:.3f}) | report | |",
        f"| highest SSIM of a sample to its nearest training subject | {s['max_nearest_training_ssim']:.3f} | report | |",
        "",
        "Per-sample nearest training subject (SSIM): "
        + ", ".join(f"{n['subject']} {n['ssim']:.3f}" for n in results["realism"]["nearest_training"]) + ".",
        "",
        "Spearman per modality: " + ", ".join(f"{m} {v:.2f}" for m, v in s["age_ventricle_spearman_per_modality"].items()) + ".",
        "",
    ]
    return "\n".join(lines)
