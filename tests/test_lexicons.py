"""Lexicons and word vectors, read from the files their packages really ship."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emocause.errors import DataError
from emocause.resources.glove import load_glove
from emocause.resources.lexicons import (
    NRC_EMOTIONS,
    nrc_emotions,
    nrc_lexicon,
    sentence_polarity,
    vader_lexicon,
    vader_word_valence,
    word_intensity,
)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vader_valence_has_the_expected_sign() -> None:
    assert vader_word_valence("happy") == pytest.approx(2.7)
    assert vader_word_valence("sad") == pytest.approx(-2.1)
    assert vader_word_valence("Sad") == vader_word_valence("sad")
    assert vader_word_valence("the") is None
    lexicon = vader_lexicon()
    assert len(lexicon) == 7506
    assert all(-4.0 <= value <= 4.0 for value in lexicon.values())


def test_word_intensity_is_unsigned_and_normalised() -> None:
    assert word_intensity("happy") == pytest.approx(2.7 / 4)
    assert word_intensity("sad") == pytest.approx(2.1 / 4)
    assert word_intensity("table") == 0.0
    assert all(0.0 <= word_intensity(word) <= 1.0 for word in ("furious", "love", "kill", "ok"))


def test_sentence_polarity_uses_vader_scores() -> None:
    happy, sad = sentence_polarity("I am so happy today!"), sentence_polarity("This is a sad, awful day.")
    assert set(happy) == {"neg", "neu", "pos", "compound"}
    assert happy["compound"] > 0.5 > -0.5 > sad["compound"]


def test_nrc_lists_the_emotions_in_the_shipped_file() -> None:
    assert nrc_emotions("afraid") == ["fear"]
    assert nrc_emotions("frightened") == ["fear", "surprise"]
    assert nrc_emotions("Frightened", include_sentiment=True) == ["fear", "negative", "surprise"]
    assert "joy" in nrc_emotions("happy")
    assert nrc_emotions("scared") == []  # not in NRCLex's file, though 'afraid' is
    lexicon = nrc_lexicon()
    assert len(lexicon) == 6468
    assert {label for labels in lexicon.values() for label in labels} == {
        *NRC_EMOTIONS,
        "positive",
        "negative",
    }


def test_offline_glove_has_50d_vectors_with_sensible_neighbours() -> None:
    glove = load_glove()
    assert glove.dim == 50 and len(glove) == 400_000
    assert "king" in glove and "King" in glove and "qqzxjw" not in glove
    king, queen, banana = glove.vector("king"), glove.vector("queen"), glove.vector("banana")
    assert king.shape == (50,) and king.dtype == np.float32
    assert cosine(king, queen) > cosine(king, banana) + 0.3
    assert load_glove() is glove


def test_embedding_matrix_counts_hits_and_is_reproducible() -> None:
    glove = load_glove()
    vocab = ["<pad>", "king", "Queen", "qqzxjw", "banana"]
    matrix, hits = glove.embedding_matrix(vocab, seed=3)
    assert matrix.shape == (5, 50) and matrix.dtype == np.float32
    assert hits == 3
    np.testing.assert_array_equal(matrix[1], glove.vector("king"))
    np.testing.assert_array_equal(matrix[2], glove.vector("queen"))
    again, _ = glove.embedding_matrix(vocab, seed=3)
    np.testing.assert_array_equal(matrix, again)
    unknown = matrix[[0, 3]]
    assert 0.3 < unknown.std() < 1.2  # random rows on the scale of the GloVe entries (std 0.64)


def test_glove_text_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "tiny.300d.txt"
    path.write_text("the 0.1 0.2 0.3\nsad -1 0.5 2e-1\n. . . 1 1 1\n", encoding="utf-8")
    glove = load_glove(str(path))
    assert glove.dim == 3 and len(glove) == 3
    np.testing.assert_allclose(glove.vector("sad"), [-1.0, 0.5, 0.2])
    assert ". . ." in glove  # 840B-style words with spaces
    matrix, hits = glove.embedding_matrix(["sad", "happy"])
    assert hits == 1 and matrix.shape == (2, 3)


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("the 0.1 0.2 0.3\nsad 0.5 0.1\n", "line 2", "has 2 values"),
        ("the 0.1 0.2\n\nsad 0.5 oops\n", "line 3", "not a number"),
        ("lonely\n", "line 1", "no numbers"),
    ],
)
def test_malformed_glove_text_file_names_the_line(
    tmp_path: Path, content: str, line: str, problem: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=problem) as caught:
        load_glove(path)
    assert caught.value.where == line


def test_missing_and_empty_glove_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_glove(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no vectors"):
        load_glove(empty)
