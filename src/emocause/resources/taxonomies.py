"""Emotion taxonomies of the corpora and the documented mappings between them.

- ED: the 32 EmpatheticDialogues emotions (Rashkin et al. 2019).
- ECC: the 10 categories + neutral of the ECC emotion dictionary (He et al. 2025, Figure 6), with
  every word of that figure mapped to its category.
- Ekman-7: RECCON-DD / DailyDialog's six basic emotions + neutral.
- ESConv: the open emotion types of ESConv seekers.

Mappings between taxonomies are lossy; each is written out below with the reason for its choices so
that results on mapped labels can be reproduced and argued with.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Taxonomy:
    name: str
    labels: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    """Variant spellings found in the data, mapped to a canonical label."""

    def normalize(self, label: str) -> str | None:
        """The canonical label for `label` (case and surrounding space ignored), or None if unknown."""
        key = label.strip().lower()
        if key in self.labels:
            return key
        return self.aliases.get(key)

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def __len__(self) -> int:
        return len(self.labels)


ED = Taxonomy(
    "ed32",
    (
        "afraid", "angry", "annoyed", "anticipating", "anxious", "apprehensive", "ashamed", "caring",
        "confident", "content", "devastated", "disappointed", "disgusted", "embarrassed", "excited",
        "faithful", "furious", "grateful", "guilty", "hopeful", "impressed", "jealous", "joyful", "lonely",
        "nostalgic", "prepared", "proud", "sad", "sentimental", "surprised", "terrified", "trusting",
    ),
)  # fmt: skip

ECC = Taxonomy(
    "ecc11",
    (
        "happy",
        "excited",
        "confident",
        "relaxed",
        "proud",
        "angry",
        "frustrated",
        "sad",
        "guilty",
        "afraid",
        "neutral",
    ),
)
ECC_POSITIVE = ("happy", "excited", "confident", "relaxed", "proud")
ECC_NEGATIVE = ("angry", "frustrated", "sad", "guilty", "afraid")

ED_EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "surprised": ("surprised", "astonish", "astound", "amaze", "startle"),
    "excited": ("excited", "aroused", "ecstatic", "elated", "rapturous", "euphoric", "exhilarated"),
    "annoyed": ("annoyed", "irritated", "miffed", "nettled", "peeved", "pissed", "riled", "roiled", "stung"),
    "proud": ("proud", "gallant", "lofty", "majestic", "arrogant", "haughty"),
    "angry": ("angry", "mad", "indignant", "cross", "irate"),
    "sad": ("sad", "deplorable", "distressing", "lamentable", "pitiful", "sorry"),
    "grateful": ("grateful", "gratitude", "grate", "thankful", "appreciative"),
    "lonely": ("lonely", "alone", "lone", "solitary", "unfrequented", "lonesome", "desolate"),
    "impressed": ("impressed", "awed", "overcome", "overwhelmed", "dazzled", "stunned"),
    "afraid": ("afraid", "scared", "alarmed", "petrified", "fearful"),
    "disgusted": ("disgusted", "sick of", "tired of", "outraged", "appalled", "offended", "sickened", "scandalized"),
    "confident": ("confident", "sure", "convinced", "certain", "positive"),
    "terrified": ("terrified", "panicky", "panic-stricken", "fright", "frighted"),
    "hopeful": ("hopeful", "optimistic", "promising", "hope", "aspirant", "bright"),
    "anxious": ("anxious", "concerned", "nervous", "uneasy", "worried"),
    "disappointed": ("disappointed", "defeated", "discomfited", "foiled", "frustrated", "thwarted"),
    "joyful": ("joyful", "pleasant", "agreeable", "cheerful", "elated", "gleeful", "jubilant"),
    "prepared": ("prepared", "ready", "disposed", "inclined"),
    "guilty": ("guilty", "criminal", "blameworthy", "fault", "culpable", "hangdog", "shamefaced", "shamed"),
    "furious": ("furious", "enraged", "ferocious", "fierce", "savage", "infuriated", "maddened", "raging",
                "tempestuous", "wild"),
    "nostalgic": ("nostalgic", "homesick", "wistful", "maudlin", "regretful"),
    "jealous": ("jealous", "envious", "covetous", "envy"),
    "anticipating": ("anticipating", "prediction", "prevision", "expect", "prescience", "expectation"),
    "embarrassed": ("embarrassed", "awkward", "cringe", "abash", "blush", "discomfiture", "chagrined"),
    "content": ("content", "satisfy", "gratify", "meet", "satisfied"),
    "devastated": ("devastated", "demolish", "destroy", "ravage", "raze", "ruin", "wreck", "desecrate",
                   "desolate", "despoil"),
    "sentimental": ("sentimental", "slushy", "maudlin", "bathetic", "mushy", "schmaltzy", "soppy"),
    "caring": ("caring", "lovingness", "loving", "care", "affectionate", "sympathetic"),
    "trusting": ("trusting", "trust", "believable", "believe", "trusty"),
    "ashamed": ("ashamed", "mortified", "humiliated", "abashed"),
    "apprehensive": ("apprehensive", "perturbed", "troubled", "agitated", "uneasy"),
    "faithful": ("faithful", "loyal", "reliable", "staunch", "fidelity", "honest", "allegiance", "faith"),
}  # fmt: skip
"""The emotion-related words of the 32 ED emotions (E-CORE, Fu et al. 2023, Table 12), which the paper counts
in dialogues to estimate how emotions co-occur (its Appendix A and Figure 4); repeated words listed once."""

EKMAN = Taxonomy(
    "ekman7",
    ("neutral", "happiness", "sadness", "anger", "surprise", "fear", "disgust"),
    # RECCON-DD's stray variants and DailyDialog's "no emotion".
    aliases={
        "happines": "happiness", "happy": "happiness", "excited": "happiness", "sad": "sadness",
        "angry": "anger", "surprised": "surprise", "no emotion": "neutral", "disgusted": "disgust",
        "fearful": "fear", "afraid": "fear",
    },
)  # fmt: skip

ESCONV = Taxonomy(
    "esconv",
    (
        "anxiety",
        "depression",
        "sadness",
        "anger",
        "fear",
        "disgust",
        "shame",
        "nervousness",
        "guilt",
        "jealousy",
        "pain",
    ),
)

# The ECC paper's Figure 6, category by category. The figure lays words out in table cells; multi-word
# entries ("at ease", "cared for", "in control") are read as one phrase each.
_ECC_FIGURE6: dict[str, str] = {
    "happy": (
        "appreciated, loved, safe, beautiful, loving, hot, pleased, trusted, amused, nice, joyful, lucky, "
        "so happy, alive, full, supported, cheerful, optimistic, interested, enlightened, protected, agreeable, "
        "fulfilled, supportive, connected, secure, generous, okay, welcome, tender, grateful, accepted, "
        "entertained, silly, valued, welcomed, understanding, forgiving, helpful, mature, friendly, understood, "
        "encouraged, close, romantic, relieved, responsible, awake, good, warm, clever, attractive, glad, reborn, "
        "productive, useful, delighted, intelligent, rewarded, liked, satisfied, kind, hopeful, protective, "
        "accepting, attracted, content, thankful"
    ),
    "excited": (
        "adventurous, playful, more, amazed, surprised, eager, curious, brilliant, energized, creative, crazy, "
        "exhilarated, enthusiastic, thrilled, inspired, energetic, ready, intrigued, shocked, freed, motivated, "
        "elated, liberated, passionate, ecstatic"
    ),
    "confident": (
        "brave, fearless, courageous, knowledgeable, decisive, organized, determined, empowered, powerful, "
        "strong, respected, in control"
    ),
    "relaxed": (
        "at ease, cared for, calm, comforted, cool, listened to, peaceful, caring, rested, at home, refreshed, "
        "at peace, comfortable, cared about, free, nostalgic"
    ),
    "proud": "accomplished, successful, victorious, triumphant, honored, competent, wise, patriotic, loyal",
    "angry": (
        "annoyed, ridiculous, irritated, enraged, mad, insulted, upset, jealous, disgusted, entitled, resentful, "
        "apathetic, betrayed, deceitful"
    ),
    # "energetic" is printed under both Excited and Frustrated; the first category wins (see below).
    "frustrated": (
        "discouraged, envious, inferior, helpless, sick, unlucky, hopeless, rejected, uninterested, overwhelmed, "
        "powerless, bad, confused, puzzled, ignored, embarrassed, bored, defeated, uncomfortable, sentimental, "
        "unwanted, exhausted, less, trapped, energetic"
    ),
    "sad": (
        "blue, depressed, painful, disappointed, sympathetic, sore, lonely, alone, hurt, touched, miserable, "
        "moved, unhappy, in pain, lost, abandoned, devastated, pain, compassionate, misunderstood"
    ),
    "guilty": "ashamed, regretful, remorseful, sorry, apologetic, distracted, punished",
    "afraid": (
        "anxious, restless, nervous, isolated, scared, apprehensive, terrified, threatened, worried, exposed, "
        "concerned, fearful, frightened, horrified, stressed, skeptical, tense"
    ),
    "neutral": (
        "challenged, included, independent, mean, rebellious, uneasy, dirty, important, artistic, in need, "
        "sluggish, resigned, clean, healthy, thoughtful, stubborn, stylish, uncertain, controlled, innocent, "
        "smart, impressed, attentive, cold, logical, paid, involved, hungry, unsure, elegant, tough, poor, sober, "
        "damp, tired, open, self-righteous, patient, seen, weak, wet, special, accountable, alert, in charge, "
        "taller, unique, obligated, serious, rich, self-conscious, awkward, grounded, focused, cultured, noble, "
        "committed, humble, cramped"
    ),
}


def _build_dictionary() -> dict[str, str]:
    dictionary: dict[str, str] = {label: label for label in ECC.labels}
    for category, words in _ECC_FIGURE6.items():
        for word in words.split(", "):
            dictionary.setdefault(word, category)
    return dictionary


ECC_DICTIONARY: dict[str, str] = _build_dictionary()
"""Every word of the ECC paper's emotion dictionary (Figure 6) -> its category (one of `ECC.labels`).
The category names map to themselves. A word printed under two categories keeps the first."""


def ecc_category(word: str) -> str | None:
    """The ECC category of an emotion word (an ATOMIC xReact tail), or None if the dictionary lacks it.

    Leading "very"/"so"/"really" and a final period are ignored ("so happy" is itself an entry).
    """
    key = " ".join(word.strip().lower().rstrip(".!").split())
    if key in ECC_DICTIONARY:
        return ECC_DICTIONARY[key]
    for intensifier in ("very ", "so ", "really ", "feel ", "feels "):
        if key.startswith(intensifier) and key[len(intensifier) :] in ECC_DICTIONARY:
            return ECC_DICTIONARY[key[len(intensifier) :]]
    return None


# ED -> ECC: each ED label looked up in the ECC dictionary; five labels the dictionary lacks take the
# category of their nearest dictionary word: anticipating ~ eager (excited), faithful ~ loyal (proud),
# furious ~ enraged (angry), prepared ~ organized (confident), trusting ~ trusted (happy). Note the dictionary itself files
# "impressed" under neutral and "sentimental" under frustrated; we keep its choices.
_ED_NOT_IN_DICTIONARY = {
    "anticipating": "excited",
    "faithful": "proud",
    "furious": "angry",
    "prepared": "confident",
    "trusting": "happy",
}
ED_TO_ECC: dict[str, str] = {
    label: ECC_DICTIONARY.get(label) or _ED_NOT_IN_DICTIONARY[label] for label in ED.labels
}

# ED -> Ekman-7 (RECCON/DailyDialog). Positive ED emotions go to happiness; the self-conscious ones
# (ashamed, embarrassed, guilty) and the wistful ones (nostalgic, sentimental) to sadness, since
# Ekman's set has no shame or nostalgia; jealousy to anger.
ED_TO_EKMAN: dict[str, str] = {
    **dict.fromkeys(
        ("anticipating", "caring", "confident", "content", "excited", "faithful", "grateful", "hopeful",
         "impressed", "joyful", "prepared", "proud", "trusting"), "happiness"),
    **dict.fromkeys(
        ("ashamed", "devastated", "disappointed", "embarrassed", "guilty", "lonely", "nostalgic", "sad",
         "sentimental"), "sadness"),
    **dict.fromkeys(("angry", "annoyed", "furious", "jealous"), "anger"),
    **dict.fromkeys(("afraid", "anxious", "apprehensive", "terrified"), "fear"),
    "disgusted": "disgust",
    "surprised": "surprise",
}  # fmt: skip

# ECC -> Ekman-7: the five positive categories are happiness; frustration is a form of anger; guilt
# goes with sadness as above.
ECC_TO_EKMAN: dict[str, str] = {
    **dict.fromkeys(ECC_POSITIVE, "happiness"),
    "angry": "anger",
    "frustrated": "anger",
    "sad": "sadness",
    "guilty": "sadness",
    "afraid": "fear",
    "neutral": "neutral",
}

_MAPPINGS: dict[tuple[str, str], dict[str, str]] = {
    (ED.name, ECC.name): ED_TO_ECC,
    (ED.name, EKMAN.name): ED_TO_EKMAN,
    (ECC.name, EKMAN.name): ECC_TO_EKMAN,
}

TAXONOMIES: dict[str, Taxonomy] = {t.name: t for t in (ED, ECC, EKMAN, ESCONV)}


def map_label(label: str, source: Taxonomy, target: Taxonomy) -> str:
    """Map a label of `source` to `target` with the documented tables above."""
    if source == target:
        return label
    try:
        return _MAPPINGS[(source.name, target.name)][label]
    except KeyError:
        raise ValueError(f"no mapping of {label!r} from {source.name} to {target.name}") from None
