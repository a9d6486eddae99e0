"""What each label value means: names, display colours and coded (SNOMED CT) terminology.

One :class:`SegmentSpec` describes one label value of a mask. The same description feeds the Slicer
``.seg.nrrd`` header (``SegmentN_Tags`` TerminologyEntry) and the DICOM SEG segment sequence, so a
lesion is "Morphologically abnormal structure / Lesion in cerebral white matter" in both.

Codes and meanings are the DICOM ones (CID 7150 categories, CID 7151 types), as pydicom's code
dictionary spells them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import InvalidInputError


@dataclass(frozen=True)
class CodedTerm:
    """A coded concept: coding scheme designator, code value and code meaning."""

    scheme: str
    value: str
    meaning: str

    def slicer_triplet(self) -> str:
        """``scheme^value^meaning`` as in Slicer's TerminologyEntry tag."""
        return f"{self.scheme}^{self.value}^{self.meaning}"


# SNOMED CT concepts (codes and meanings as in the DICOM standard).
TISSUE = CodedTerm("SCT", "85756007", "Tissue")
BODY_SUBSTANCE = CodedTerm("SCT", "91720002", "Body Substance")
ANATOMICAL_STRUCTURE = CodedTerm("SCT", "91723000", "Anatomical Structure")
MORPHOLOGICALLY_ABNORMAL_STRUCTURE = CodedTerm("SCT", "49755003", "Morphologically Abnormal Structure")
LESION = CodedTerm("SCT", "52988006", "Lesion")
CEREBROSPINAL_FLUID = CodedTerm("SCT", "65216001", "Cerebrospinal Fluid")
GRAY_MATTER = CodedTerm("SCT", "389081007", "Gray Matter")
WHITE_MATTER = CodedTerm("SCT", "389080008", "White Matter")
LATERAL_VENTRICLE = CodedTerm("SCT", "66720007", "Lateral Ventricle")
CEREBRAL_WHITE_MATTER = CodedTerm("SCT", "68523003", "Cerebral White Matter")
BRAIN = CodedTerm("SCT", "12738006", "Brain")

SLICER_CATEGORY_CONTEXT = "Segmentation category and type - DICOM master list"
SLICER_ANATOMY_CONTEXT = "Anatomic codes - DICOM master list"


@dataclass(frozen=True)
class SegmentSpec:
    """The meaning of one label value.

    Args:
        label_value: the voxel value in the mask (1..255; 0 is always background).
        name: display name, e.g. ``"White matter lesion"``.
        color: recommended display colour, RGB in [0, 1].
        category: segmented property category (DICOM CID 7150).
        property_type: segmented property type (DICOM CID 7151).
        anatomic_region: where the segment lies, if that is part of its meaning.
    """

    label_value: int
    name: str
    color: tuple[float, float, float]
    category: CodedTerm
    property_type: CodedTerm
    anatomic_region: CodedTerm | None = None

    def __post_init__(self) -> None:
        if not 1 <= int(self.label_value) <= 255:
            raise InvalidInputError(f"Segment label value {self.label_value} must be in 1..255 (0 is background).")
        if (
            not self.name
            or not self.name.isascii()
            or not self.name.isprintable()
            or any(c in self.name for c in "|~^")
        ):
            raise InvalidInputError(
                f"Segment name {self.name!r} must be non-empty printable ASCII without | ~ ^ (file headers are ASCII)."
            )
        if len(self.color) != 3 or not all(0.0 <= float(c) <= 1.0 for c in self.color):
            raise InvalidInputError(f"Segment colour {self.color!r} must be three RGB values in [0, 1].")

    @property
    def segment_id(self) -> str:
        """A stable identifier for Slicer (``SegmentN_ID``): the name with spaces replaced."""
        return self.name.replace(" ", "_")

    def slicer_terminology_entry(self) -> str:
        """The TerminologyEntry value of Slicer's ``SegmentN_Tags`` (seven ``~``-separated parts)."""
        region = self.anatomic_region.slicer_triplet() if self.anatomic_region else "^^"
        return "~".join(
            [
                SLICER_CATEGORY_CONTEXT,
                self.category.slicer_triplet(),
                self.property_type.slicer_triplet(),
                "^^",  # type modifier
                SLICER_ANATOMY_CONTEXT,
                region,
                "^^",  # anatomic region modifier
            ]
        )


LESION_SEGMENT = SegmentSpec(
    1, "White matter lesion", (0.94, 0.78, 0.19), MORPHOLOGICALLY_ABNORMAL_STRUCTURE, LESION, CEREBRAL_WHITE_MATTER
)
"""The default: label 1 is a white-matter lesion."""

TISSUE_SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec(1, "Cerebrospinal fluid", (0.34, 0.67, 0.84), BODY_SUBSTANCE, CEREBROSPINAL_FLUID, BRAIN),
    SegmentSpec(2, "Gray matter", (0.55, 0.40, 0.35), TISSUE, GRAY_MATTER, BRAIN),
    SegmentSpec(3, "White matter", (0.93, 0.93, 0.87), TISSUE, WHITE_MATTER, BRAIN),
    SegmentSpec(4, "Lateral ventricle", (0.10, 0.35, 0.80), ANATOMICAL_STRUCTURE, LATERAL_VENTRICLE),
    SegmentSpec(
        5, "White matter lesion", (0.94, 0.78, 0.19), MORPHOLOGICALLY_ABNORMAL_STRUCTURE, LESION, CEREBRAL_WHITE_MATTER
    ),
)
"""The tissue label convention of ``docs/architecture.md`` (1 CSF .. 5 white-matter lesion)."""


def check_segments(segments: Sequence[SegmentSpec]) -> tuple[SegmentSpec, ...]:
    """Check that ``segments`` is non-empty with unique label values and names; return it sorted by value."""
    segments = tuple(segments)
    if not segments:
        raise InvalidInputError("At least one segment description is needed (e.g. [LESION_SEGMENT]).")
    values = [s.label_value for s in segments]
    if len(set(values)) != len(values):
        raise InvalidInputError(f"Segment label values must be unique, got {values}.")
    names = [s.segment_id for s in segments]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"Segment names must be unique, got {[s.name for s in segments]}.")
    return tuple(sorted(segments, key=lambda s: s.label_value))


def segments_by_value(segments: Sequence[SegmentSpec]) -> Mapping[int, SegmentSpec]:
    """Map label value to its description."""
    return {s.label_value: s for s in check_segments(segments)}
