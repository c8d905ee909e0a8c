"""Project-level agreement of crowd labels (Krippendorff's alpha)."""

from __future__ import annotations

from .encoding import LabelMatrix


def project_alpha(matrix: LabelMatrix) -> float:
    """Krippendorff's alpha (nominal) of all labels of a project.

    Builds the workers x tasks reliability matrix of label codes (NaN where a worker did not label
    a task; a worker's repeated label on one task keeps the last) and calls
    ``deliberation.consensus.agreement.krippendorff_alpha`` (Krippendorff 2011); no copy of the
    formula lives here.
    """
    from ..agreement import krippendorff_alpha

    return krippendorff_alpha(matrix.reliability_data(), level="nominal")
