"""EC-DD: the ECC paper's pipeline for synthesizing emotion-cause-labelled dialogues (see `run`)."""
