"""The caption vocabulary: the words for modality, sex, ventricles and lesions the bundles were trained on.

One definition for everything that writes or reads prompts: the training captions
(``training/captions/phrases.py``), the batch prompt templates (``braingen3d.batch.prompt_templates``), the
prompt parser (``braingen3d.prompts.parser``), the evaluation prompts and the Slicer panel's quick picks.
It imports only the standard library, so the Slicer panel can load it without torch (or without the rest of
the engine).
"""

from __future__ import annotations

MODALITIES = ("T1", "T2", "FLAIR", "PD")
"""The contrasts, in the order the prompt attribute vector uses."""
