"""One caption vocabulary: every writer of prompts uses it, and the engine's parser reads back what each writes."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

from braingen3d.batch.prompt_templates import DEFAULT_TEMPLATE, PromptTemplate, lesion_phrase
from braingen3d.prompts import vocabulary
from braingen3d.prompts.parser import facts_from_prompt, lesion_finding, ventricle_finding

VOCABULARY_FILE = Path(vocabulary.__file__)
SEXES = ("F", "M")
LESIONS = {0: (False, True), 1: (True, False), 3: (True, False)}  # count -> (wanted, unwanted)


def test_the_vocabulary_imports_the_standard_library_only():
    tree = ast.parse(VOCABULARY_FILE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported <= {"__future__", "re"}, imported
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))  # loadable as a file


def _check(text: str, modality: str, age: int | None, sex: str | None, ventricles: str | None, lesions: int | None):
    facts = facts_from_prompt(text)
    assert facts.get("modality") == modality and facts.get("age") == age and facts.get("sex") == sex, text
    assert ventricle_finding(text) == ventricles, text
    if lesions is not None:
        finding = lesion_finding(text)
        assert (finding.wanted, finding.unwanted) == LESIONS[lesions], text


@pytest.mark.parametrize("template", range(5))
def test_the_parser_reads_every_training_caption_template(template):
    from training.captions.phrases import compose, ventricle_phrase
    from training.captions.phrases import lesion_phrase as caption_lesion_phrase

    rng = np.random.default_rng(template)
    for modality, sex, (z, ventricles), lesions in itertools.product(
            vocabulary.MODALITIES, SEXES, ((0.0, "normal"), (2.0, "enlarged")), LESIONS):
        findings = [ventricle_phrase(z), caption_lesion_phrase(lesions, 12.0, modality, rng)]
        _check(compose(template, modality, 72, sex, findings), modality, 72, sex, ventricles, lesions)


def test_the_parser_reads_the_batch_templates_and_the_evaluation_prompts():
    from training.evaluation.adherence import prompt

    template = PromptTemplate(DEFAULT_TEMPLATE)
    for modality, sex, ventricles, lesions in itertools.product(vocabulary.MODALITIES, SEXES,
                                                                 vocabulary.VENTRICLE_FINDINGS, LESIONS):
        attributes = {"modality": modality, "age": 81, "sex": sex, "ventricles": ventricles}
        text = template.render(attributes, lesion_phrase(lesions, 8.0, modality))
        assert "an 81-year-old" in text and ("an 8 mm" in text) == (lesions == 1)
        _check(text, modality, 81, sex, ventricles, lesions)
        _check(prompt(modality, 64, sex, ventricles), modality, 64, sex, ventricles, None)


def test_the_parser_reads_the_slicer_quick_picks():
    from BrainGen3DLib.prompt_builder import Lesions, Modality, QuickPicks, Sex, Ventricles, compose_prompt
    from BrainGen3DLib.prompt_builder import vocabulary as panel

    assert panel().MODALITY_WORDS == vocabulary.MODALITY_WORDS  # the panel loads the engine's own file
    sexes = {Sex.FEMALE: "F", Sex.MALE: "M"}
    counts = {Lesions.NONE: 0, Lesions.ONE: 1, Lesions.MULTIPLE: 3}
    for modality, sex, ventricles, lesions in itertools.product(Modality, sexes, (Ventricles.NORMAL, Ventricles.ENLARGED),
                                                                counts):
        text = compose_prompt(QuickPicks(modality, 18, sex, ventricles, lesions))
        _check(text, modality.value, 18, sexes[sex], ventricles.value, counts[lesions])


def test_articles_follow_the_spoken_word():
    assert [vocabulary.article(w) for w in ("8", "80-year-old", "11", "18-year-old", "110-year-old", "12", "eye", "man")] == \
        ["an", "an", "an", "an", "a", "a", "an", "a"]
