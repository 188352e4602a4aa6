"""IMAGINE's commonsense relations (Chen & Liang, Section 3.2.2): 11 ATOMIC-2020 relations in 4 groups, and
COMET's if-then reading of each relation (Hwang et al. 2021), used to prompt a language model."""

from __future__ import annotations

RELATION_GROUPS: dict[str, tuple[str, ...]] = {
    "affect": ("xReact",),
    "behaviour": ("xIntent", "xNeed", "xWant", "xEffect", "xAttr"),
    "physical": ("HasProperty", "CapableOf", "Desires"),
    "events": ("Causes", "xReason"),
}
"""Affect matters to emotional empathy; behaviour, physical and events to cognitive empathy."""

RELATIONS: tuple[str, ...] = tuple(r for group in RELATION_GROUPS.values() for r in group)
INFERENCES_PER_RELATION = 5

GROUP_OF: dict[str, str] = {r: group for group, members in RELATION_GROUPS.items() for r in members}

IF_THEN: dict[str, str] = {
    "xReact": "As a result, PersonX feels",
    "xIntent": "Because PersonX wanted",
    "xNeed": "Before that, PersonX needed",
    "xWant": "As a result, PersonX wants",
    "xEffect": "As a result, PersonX will",
    "xAttr": "PersonX is seen as",
    "HasProperty": "It is characterized by being",
    "CapableOf": "It is capable of",
    "Desires": "It desires",
    "Causes": "This causes",
    "xReason": "This happened because",
}
"""The sentence start that each relation completes (COMET-ATOMIC-2020's natural-language templates)."""

NO_INFERENCE = {"none", "", "n/a"}
"""ATOMIC's marker of a relation that does not apply; never an inference."""


def group_inferences(inferences: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per group, the inferences of its relations in the paper's order (S_Affect, S_Behav, S_Phys, S_Events)."""
    return {
        group: [text for relation in members for text in inferences.get(relation, [])]
        for group, members in RELATION_GROUPS.items()
    }
